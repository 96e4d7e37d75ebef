"""The embedded worker: used when no Celery broker is configured. A few
threads take message and delivery ids from an in-process queue; a sweeper
thread calls gateway.worker.sweep periodically, and once at start with no
grace so that whatever a previous run left behind is picked up at once.

The queue only holds rings. The spool is the truth: ids left in the queue
when the process stops (or dies) are found again by the next sweep."""

import logging
import queue
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.module_loading import import_string

from gateway import next_hop

log = logging.getLogger(__name__)

_running = None  # the EmbeddedWorker of this process, once started
# Seconds a worker thread waits for a ring before it looks in the spool itself.
IDLE_WAIT = 0.2
_running_lock = threading.Lock()


def submit(kind, object_id):
    """Queue ("message" | "delivery", id) for the running worker; returns
    False when this process has none (the web app, a shell): the sweeper of
    the gateway process then rings."""
    worker = _running
    if worker is None:
        log.debug("no embedded worker running; %s %s left to the sweeper", kind, object_id)
        return False
    worker.submit(kind, object_id)
    return True


def run_jobs(kind, object_ids):
    """Do jobs of one kind together (their SQL is shared). Imported late:
    delivery may pull in a lot."""
    if kind == "message":
        from gateway.worker import process_many

        # What is written is sent at once, by the same thread (no ring, no claim, nothing read again).
        process_many(object_ids, send_now=True)
    elif kind == "delivery":
        from gateway.delivery import deliver_many

        deliver_many(object_ids)
    else:
        raise ValueError(f"unknown job kind {kind!r}")


class EmbeddedWorker:
    def __init__(self, threads=None, sweep_interval=None, batch=None):
        self.threads = threads or settings.LOCKPOST_WORKER_THREADS
        self.batch = batch or settings.LOCKPOST_WORKER_BATCH
        self.sweep_interval = sweep_interval or settings.LOCKPOST_SWEEP_INTERVAL
        self._queue = queue.Queue()
        self._queued = set()  # what is waiting, so repeated rings queue it once
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = []

    def start(self):
        global _running
        with _running_lock:
            if _running is not None:
                raise RuntimeError("an embedded worker is already running in this process")
            _running = self
        for n in range(self.threads):
            self._spawn(self._work, f"worker-{n}")
        self._spawn(self._sweep_loop, "sweeper")
        self._spawn(self._periodic_loop, "periodic")
        log.info("embedded worker: %d thread(s), sweep every %gs", self.threads, self.sweep_interval)
        return self

    def stop(self, timeout=60):
        """Stop taking work; jobs in progress finish (up to `timeout`)."""
        global _running
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        with _running_lock:
            if _running is self:
                _running = None
        left = self._queue.qsize()
        log.info("embedded worker stopped%s", f"; {left} ring(s) left to the next sweep" if left else "")

    def submit(self, kind, object_id):
        with self._lock:
            if (kind, object_id) in self._queued:
                return
            self._queued.add((kind, object_id))
        self._queue.put((kind, object_id))

    def idle(self):
        """True when nothing waits in the queue (jobs may still be running)."""
        return self._queue.empty()

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self):
        try:
            while not self._stopping.is_set():
                try:
                    jobs = [self._queue.get(timeout=IDLE_WAIT)]
                except queue.Empty:
                    # Idle: take what waits in the spool unclaimed, rung for in a
                    # busier sibling process (the kernel spreads connections, not
                    # messages) or whose ring was lost. A claim makes it ours alone.
                    while not self._stopping.is_set() and self._guarded(self._take_waiting):
                        pass
                    continue
                jobs += self._more(self.batch - 1)
                with self._lock:
                    self._queued.difference_update(jobs)
                for kind in ("message", "delivery"):
                    ids = [object_id for job_kind, object_id in jobs if job_kind == kind]
                    if ids:
                        self._guarded(run_jobs, kind, ids)
        finally:
            connection.close()
            next_hop.close_kept()  # this thread's SMTP connection, if it kept one

    def _take_waiting(self):
        """Process a batch of the messages waiting unclaimed; True if there were any."""
        from gateway.worker import waiting

        found = waiting(self.batch)
        if found:
            run_jobs("message", found)
        return bool(found)

    def _more(self, most):
        """Up to `most` more jobs that are already waiting: a busy queue is
        worked in batches, an idle one job by job without delay."""
        jobs = []
        while len(jobs) < most:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _sweep_loop(self):
        from gateway.worker import sweep

        try:
            self._guarded(sweep, grace=0)  # a fresh queue knows of nothing: ring it all
            while not self._stopping.wait(self.sweep_interval):
                self._guarded(sweep)
        finally:
            connection.close()

    def _periodic_loop(self):
        """The rest of Celery beat's schedule (CRL and OCSP refresh, ...),
        run here when there is no Celery: each task on its own interval,
        the first time one interval (at most a minute) after start."""
        jobs = [
            (import_string(entry["task"]), float(entry["schedule"]))
            for entry in settings.CELERY_BEAT_SCHEDULE.values()
            if entry["task"] != "gateway.tasks.sweep"
        ]
        if not jobs:
            return
        due = {task: time.monotonic() + min(60, interval) for task, interval in jobs}
        tick = min(5, *(interval for _, interval in jobs))
        try:
            while not self._stopping.wait(tick):
                for task, interval in jobs:
                    if time.monotonic() >= due[task]:
                        due[task] = time.monotonic() + interval
                        self._guarded(task)
        finally:
            connection.close()

    @staticmethod
    def _guarded(job, *args, **kwargs):
        """job(...)'s result, or None if it raised."""
        # Connections go stale (restarted database, CONN_MAX_AGE) exactly as
        # in a request; and one failing job must not kill the thread.
        close_old_connections()
        try:
            return job(*args, **kwargs)
        except Exception:
            log.exception("job %s%s failed; the sweeper will ring again", getattr(job, "__name__", job), args)
            return None
        finally:
            close_old_connections()
