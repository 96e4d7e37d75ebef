"""Stores what the LMTP sessions hand over, several messages a transaction.

Each session still waits for its own message to be stored before it
answers: nothing is acknowledged before its commit. Messages handed over
while every writer is busy wait together and go into the next transaction
(gateway.spool.store_many): one commit, and one statement a table, for all
of them. Should storing them together fail, each is stored alone, so that
one bad message makes no other one fail."""

import asyncio
import collections
import functools
import logging
import threading
import time

from django.db import close_old_connections, connection

from gateway import spool

log = logging.getLogger(__name__)

# Two writers: one builds its transaction while the other waits for its
# commit. More would only split the waiting messages into smaller batches.
WRITERS = 2
MOST_MESSAGES = 16
# A batch stops growing here (its first message goes in whatever its size),
# so that a large message does not hold back the answers to small ones.
MOST_BYTES = 1024 * 1024


class BatchingStore:
    """store(envelope) for the sessions of one event loop; `executor` runs
    the writers (at least WRITERS threads)."""

    def __init__(self, executor, writers=WRITERS, most_messages=MOST_MESSAGES, most_bytes=MOST_BYTES):
        self.executor = executor
        self.most_messages, self.most_bytes = most_messages, most_bytes
        self._free = writers
        self._waiting = collections.deque()  # (envelope, future)

    async def store(self, envelope):
        """The stored Message, once committed; raises what storing it raised."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((envelope, future))
        self._start_writers()
        return await future

    def _start_writers(self):
        loop = asyncio.get_running_loop()
        while self._waiting and self._free:
            batch = self._next_batch()
            self._free -= 1
            stored = loop.run_in_executor(self.executor, store_together, [envelope for envelope, _ in batch])
            stored.add_done_callback(functools.partial(self._answer, batch))

    def _next_batch(self):
        batch, size = [], 0
        while self._waiting and len(batch) < self.most_messages:
            data = self._waiting[0][0]["data"]
            if batch and size + len(data) > self.most_bytes:
                break
            batch.append(self._waiting.popleft())
            size += len(data)
        return batch

    def _answer(self, batch, stored):
        self._free += 1
        if stored.cancelled():
            results = [asyncio.CancelledError()] * len(batch)
        elif stored.exception() is not None:
            results = [stored.exception()] * len(batch)
        else:
            results = stored.result()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # its session went away meanwhile
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._start_writers()


def store_together(envelopes):
    """In a writer thread: a Message, or the exception that stopped it, for
    each envelope, in order."""
    _check_connection()
    try:
        if len(envelopes) > 1:
            try:
                return spool.store_many(envelopes)
            except Exception:
                log.warning("storing %d messages together failed; storing each alone", len(envelopes), exc_info=True)
        return [_store_alone(envelope) for envelope in envelopes]
    finally:
        _release_connection()


# This thread's connection may have gone stale (database restart,
# CONN_MAX_AGE): close_old_connections lets Django replace it, after a
# SELECT 1 before the next query. Around every batch (most hold one
# message) that was one statement in two. So the check is made at most once
# a CHECK_EVERY, and after any database error, which is how a connection a
# restart broke shows itself. A batch that meets a connection broken within
# that second fails: its sessions answer 4xx, the MTA sends again, and the
# next batch has a new connection.
CHECK_EVERY = 1.0
_checked = threading.local()


def _check_connection():
    now, last = time.monotonic(), getattr(_checked, "at", None)
    if connection.errors_occurred or last is None or now - last >= CHECK_EVERY:
        close_old_connections()
        _checked.at = now


def _release_connection():
    # A connection past its CONN_MAX_AGE (0: after every batch) or broken is closed now.
    obsolete = connection.close_at is not None and time.monotonic() >= connection.close_at
    if obsolete or connection.errors_occurred:
        close_old_connections()


def _store_alone(envelope):
    try:
        return spool.store(**envelope)
    except Exception as error:
        return error
