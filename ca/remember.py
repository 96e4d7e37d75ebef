"""Reading the certificate store once a batch: within `remembering()`, this
thread computes each remembered lookup once. The worker runs a batch of
messages inside one, so that a sender, a recipient or a key met again in
the batch costs no second query. What is kept lives only as long as the
block (a batch: well under the LOCKPOST_TRUST_CACHE_SECONDS for which trust
itself is kept); outside a block nothing is kept."""

import contextlib
import threading

_local = threading.local()


@contextlib.contextmanager
def remembering():
    outer = getattr(_local, "found", None)
    _local.found = {} if outer is None else outer
    try:
        yield
    finally:
        _local.found = outer


def remembered(key, compute):
    """compute(), or what it gave for `key` earlier in this block. Callers
    must not change what they get: later callers in the block share it."""
    found = getattr(_local, "found", None)
    if found is None:
        return compute()
    if key not in found:
        found[key] = compute()
    return found[key]


def kept(key):
    """A set this thread keeps under `key` for the rest of the block, for
    its callers to add to (a new, unkept one outside a block)."""
    found = getattr(_local, "found", None)
    if found is None:
        return set()
    return found.setdefault(key, set())
