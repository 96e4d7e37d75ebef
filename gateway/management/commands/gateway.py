"""`manage.py gateway`: the mail side of Lockpost in one process.

Runs the LMTP listener (settings.LOCKPOST_LMTP) and, when no Celery broker is
configured, the embedded worker that processes and delivers what arrives.
With a broker, `celery -A lockpost worker -B` does that work instead.

    manage.py gateway                 listener (+ embedded worker without a broker)
    manage.py gateway --no-worker     the listener only
    manage.py gateway --worker-only   the embedded worker only (more of them
                                      may share one database: work is leased)
    manage.py gateway --processes 2   two processes on the same addresses, to
                                      use two cores (gateway/siblings.py)

SIGTERM or SIGINT stops it gracefully: the listener stops accepting and
finishes messages in flight, then the worker finishes its jobs in progress.
What is left waiting is in the spool; the next start picks it up.
"""

import argparse
import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from gateway import siblings
from gateway.embedded import EmbeddedWorker

log = logging.getLogger("gateway")


def keep_database_connections():
    """The gateway's threads live as long as the process and work all the
    time: each keeps its database connection (LOCKPOST_GATEWAY_DB_CONN_MAX_AGE)
    instead of opening one per message and delivery, which cost more CPU than
    the message itself."""
    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = settings.LOCKPOST_GATEWAY_DB_CONN_MAX_AGE


class Command(BaseCommand):
    help = "Run the LMTP listener and, without a Celery broker, the embedded worker."

    def add_arguments(self, parser):
        parts = parser.add_mutually_exclusive_group()
        parts.add_argument("--no-worker", action="store_true", help="Run only the LMTP listener.")
        parts.add_argument("--worker-only", action="store_true", help="Run only the embedded worker (no listener).")
        parser.add_argument(
            "--lmtp", help=f"Listen address host:port (default LOCKPOST_LMTP, now {settings.LOCKPOST_LMTP})."
        )
        parser.add_argument(
            "--threads",
            type=int,
            help=f"Worker threads (default LOCKPOST_WORKER_THREADS, now {settings.LOCKPOST_WORKER_THREADS}).",
        )
        parser.add_argument(
            "--grace", type=float, default=30.0, help="Seconds to let work in flight finish on shutdown."
        )
        parser.add_argument(
            "--processes",
            type=int,
            help="Gateway processes sharing the listen addresses, one per core "
            f"(default LOCKPOST_GATEWAY_PROCESSES, now {settings.LOCKPOST_GATEWAY_PROCESSES}).",
        )
        # Set by the first process on the siblings it starts (gateway/siblings.py).
        parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        want_worker = not options["no_worker"]
        if want_worker and settings.CELERY_BROKER_URL:
            if options["worker_only"]:
                raise CommandError("CELERY_BROKER_URL is set: run `celery -A lockpost worker -B` as the worker.")
            log.info("CELERY_BROKER_URL is set: Celery workers process the mail, not this process")
            want_worker = False

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

        processes = options["processes"] or settings.LOCKPOST_GATEWAY_PROCESSES
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        if processes > 1 and options["worker_only"]:
            raise CommandError("--processes needs the listener: each process works on what it received")
        reuse_port = options["reuse_port"] or processes > 1

        keep_database_connections()
        worker = listener = None
        profiled, others = [], []
        try:
            if want_worker:
                self.check_pipeline()
                worker = EmbeddedWorker(threads=options["threads"]).start()
            if not options["worker_only"]:
                listener = self.start_listener(options["lmtp"], reuse_port)
                profiled = self.start_profile_listeners(reuse_port)
            if processes > 1:
                others = siblings.start_siblings(
                    processes - 1, listener, profiled, options["grace"], self.stdout, self.process_args(options)
                )
            self.stdout.write(self.ready_line(listener, worker, profiled, len(others)), ending="\n")
            self.stdout.flush()
            stop.wait()
            log.info("shutting down")
        finally:
            siblings.stop_all(others, options["grace"])
            # Listener first: no new mail while the worker winds down.
            for extra in profiled:
                extra.stop(grace=options["grace"])
            if listener is not None:
                listener.stop(grace=options["grace"])
            if worker is not None:
                worker.stop(timeout=options["grace"])

    @staticmethod
    def process_args(options):
        """The options a sibling process takes as this one did."""
        args = ["--no-worker"] if options["no_worker"] else []
        return args + (["--threads", str(options["threads"])] if options["threads"] else [])

    @staticmethod
    def check_pipeline():
        """Import every handler now: a wrong name in LOCKPOST_PIPELINE stops
        the start, instead of failing each message later."""
        from gateway import pipeline

        try:
            pipeline.handlers()
        except ImportError as error:
            raise CommandError(f"LOCKPOST_PIPELINE: {error}") from error

    def start_listener(self, address, reuse_port=False):
        from gateway.lmtp import Listener

        try:
            return Listener(lmtp=address, reuse_port=reuse_port).start()
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot listen for LMTP: {error}") from error

    @staticmethod
    def start_profile_listeners(reuse_port=False):
        """One more LMTP listener per profile (LOCKPOST_LMTP_PROFILES): what
        comes in there runs that profile's pipeline (e.g. decrypt-only)."""
        from gateway.lmtp import Listener

        started = []
        for name, address in settings.LOCKPOST_LMTP_PROFILES.items():
            try:
                started.append(Listener(lmtp=address, smtp="", profile=name, reuse_port=reuse_port).start())
            except (OSError, ValueError) as error:
                for listener in started:
                    listener.stop(grace=0)
                raise CommandError(f"cannot listen for LMTP profile {name!r}: {error}") from error
        return started

    @staticmethod
    def ready_line(listener, worker, profiled=(), sibling_count=0):
        """One line that says the gateway is up; tests and scripts wait for it."""
        parts = []
        if listener is not None:
            host, port = listener.lmtp_address[:2]
            parts.append(f"LMTP on {host}:{port}")
            if listener.smtp_address:
                parts.append("SMTP on {}:{}".format(*listener.smtp_address[:2]))
        for extra in profiled:
            parts.append("LMTP ({}) on {}:{}".format(extra.profile, *extra.lmtp_address[:2]))
        if worker is not None:
            parts.append(f"embedded worker with {worker.threads} thread(s)")
        hop = settings.LOCKPOST_NEXT_HOP or f"outbox {settings.LOCKPOST_OUTBOX_DIR}"
        if worker is not None:
            parts.append(f"delivering to {hop}")
        if sibling_count:
            parts.append(f"{sibling_count + 1} processes")
        return f"{siblings.READY} " + ", ".join(parts)
