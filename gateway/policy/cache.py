"""Per-process memory of what was read from the configuration tables,
good for as long as the policy epoch (gateway.policy.epoch) stays where it
was. The epoch is read first and what is loaded after it is kept under it:
a change that commits meanwhile moves the epoch on, so the next reader
drops the lot. Never stale across processes, as the epoch is in the database.

A message reads the epoch once (`epoch_for`); other callers once a lookup."""

import threading

from . import epoch as policy_epoch

EPOCH_KEY = "policy:epoch"  # ctx.decided: the epoch this message is processed under
_MISSING = object()


def epoch_for(ctx):
    """The epoch for a message in the pipeline: read on first use, then kept
    on the context so that its handlers see one policy and ask once."""
    value = ctx.decided.get(EPOCH_KEY)
    if value is None:
        value = ctx.decided[EPOCH_KEY] = policy_epoch.current()
    return value


class EpochCache:
    """key -> value, all of them computed under one epoch. At most `limit`
    entries (the oldest go first). Safe for several threads: the entries of
    one epoch are replaced as a whole, and a value loaded under an epoch that
    was replaced meanwhile is not kept."""

    def __init__(self, limit):
        self.limit = limit
        self._lock = threading.Lock()
        self._epoch = None
        self._entries = {}

    def get(self, epoch, key, load):
        """The value for `key` under `epoch`, from memory or from `load()`.
        Callers must not change what they get: it is shared."""
        with self._lock:
            if self._epoch != epoch:
                self._epoch, self._entries = epoch, {}
            entries = self._entries
            value = entries.get(key, _MISSING)
        if value is not _MISSING:
            return value
        value = load()  # outside the lock: it queries the database
        with self._lock:
            if self._entries is entries:
                if len(entries) >= self.limit:
                    del entries[next(iter(entries))]
                entries[key] = value
        return value

    def clear(self):
        with self._lock:
            self._epoch, self._entries = None, {}
