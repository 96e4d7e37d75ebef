"""`manage.py gateway`: the mail side of Lockpost in one process.

Runs the LMTP listener (settings.LOCKPOST_LMTP) and, when no Celery broker is
configured, the embedded worker that processes and delivers what arrives.
With a broker, `celery -A lockpost worker -B` does that work instead.

    manage.py gateway                 listener (+ embedded worker without a broker)
    manage.py gateway --no-worker     the listener only
    manage.py gateway --worker-only   the embedded worker only (more of them
                                      may share one database: work is leased)

SIGTERM or SIGINT stops it gracefully: the listener stops accepting and
finishes messages in flight, then the worker finishes its jobs in progress.
What is left waiting is in the spool; the next start picks it up.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

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

        keep_database_connections()
        worker = listener = None
        profiled = []
        try:
            if want_worker:
                self.check_pipeline()
                worker = EmbeddedWorker(threads=options["threads"]).start()
            if not options["worker_only"]:
                listener = self.start_listener(options["lmtp"])
                profiled = self.start_profile_listeners()
            self.stdout.write(self.ready_line(listener, worker, profiled), ending="\n")
            self.stdout.flush()
            stop.wait()
            log.info("shutting down")
        finally:
            # Listener first: no new mail while the worker winds down.
            for extra in profiled:
                extra.stop(grace=options["grace"])
            if listener is not None:
                listener.stop(grace=options["grace"])
            if worker is not None:
                worker.stop(timeout=options["grace"])

    @staticmethod
    def check_pipeline():
        """Import every handler now: a wrong name in LOCKPOST_PIPELINE stops
        the start, instead of failing each message later."""
        from gateway import pipeline

        try:
            pipeline.handlers()
        except ImportError as error:
            raise CommandError(f"LOCKPOST_PIPELINE: {error}") from error

    def start_listener(self, address):
        from gateway.lmtp import Listener

        try:
            return Listener(lmtp=address).start()
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot listen for LMTP: {error}") from error

    @staticmethod
    def start_profile_listeners():
        """One more LMTP listener per profile (LOCKPOST_LMTP_PROFILES): what
        comes in there runs that profile's pipeline (e.g. decrypt-only)."""
        from gateway.lmtp import Listener

        started = []
        for name, address in settings.LOCKPOST_LMTP_PROFILES.items():
            try:
                started.append(Listener(lmtp=address, smtp="", profile=name).start())
            except (OSError, ValueError) as error:
                for listener in started:
                    listener.stop(grace=0)
                raise CommandError(f"cannot listen for LMTP profile {name!r}: {error}") from error
        return started

    @staticmethod
    def ready_line(listener, worker, profiled=()):
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
        return "gateway ready: " + ", ".join(parts)
