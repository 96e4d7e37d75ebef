"""More gateway processes beside the first, to use more than one core.

Python runs one thread at a time per process, so one gateway process keeps
one core busy at most. With LOCKPOST_GATEWAY_PROCESSES (or `manage.py gateway
--processes N`) above 1, the first process binds its listeners with
SO_REUSEPORT and starts N-1 siblings: the same command, bound to the very
same addresses. The kernel spreads incoming connections over them; each
process stores, processes and delivers what it received (its own embedded
worker), and each sweeps the shared spool, so work left by one is found by
the others. A sibling that dies is started again; the spool loses nothing
meanwhile, because each message is acknowledged only once stored.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings

log = logging.getLogger("gateway")

READY = "gateway ready:"  # the line every gateway process prints once it serves
RESTART_DELAY = 1.0  # seconds before a sibling that died is started again
START_TIMEOUT = 120.0


def _stop_with_parent():
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def sibling_environment(listener, profiled):
    """The environment that makes a sibling bind exactly where we did (the
    ports we were given may have been 0: "any free one")."""
    env = dict(os.environ)
    env["LOCKPOST_LMTP"] = "{}:{}".format(*listener.lmtp_address)
    env["LOCKPOST_SMTP_LISTEN"] = "{}:{}".format(*listener.smtp_address) if listener.smtp_address else ""
    env["LOCKPOST_LMTP_PROFILES"] = ",".join(
        "{}={}:{}".format(extra.profile, *extra.lmtp_address) for extra in profiled
    )
    return env


class Sibling:
    """One more `manage.py gateway` process, kept running until stopped."""

    def __init__(self, number, command, env, output):
        self.number = number
        self.command = command
        self.env = env
        self.output = output  # where the sibling's lines go (our stdout)
        self.process = None
        self._stopping = threading.Event()
        # Stopping and starting again exclude each other: a restart never
        # begins after stop() has looked for the process to stop.
        self._spawning = threading.Lock()
        self._ready = threading.Event()
        self._watcher = None

    def launch(self):
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name=f"sibling-{self.number}", daemon=True)
        self._watcher.start()
        return self

    def wait_ready(self, timeout):
        if not self._ready.wait(timeout):
            raise RuntimeError(f"gateway sibling {self.number} did not start within {timeout:g}s")

    def stop(self, grace):
        with self._spawning:
            self._stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace + 10)
            except subprocess.TimeoutExpired:
                log.warning("gateway sibling %d did not stop in time; killed", self.number)
                process.kill()
                process.wait()
        if self._watcher is not None:
            self._watcher.join(5)

    def _spawn(self):
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own process group: a Ctrl-C reaches the first process only,
            # which stops the siblings in order. And a sibling stops when the
            # first process dies, however it dies, rather than live on alone.
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )

    def _watch(self):
        while True:
            for line in self.process.stdout:
                if line.startswith(READY):
                    self._ready.set()
                else:
                    self.output.write(line)
                    self.output.flush()
            code = self.process.wait()
            if self._stopping.is_set():
                return
            log.error("gateway sibling %d exited with %s; starting it again", self.number, code)
            if self._stopping.wait(RESTART_DELAY):
                return
            with self._spawning:
                if self._stopping.is_set():
                    return
                self._spawn()


def start_siblings(count, listener, profiled, grace, output, process_args=()):
    """Start `count` siblings bound to the listeners' addresses; returns them.
    `process_args`: the options each process takes as the first did (its
    worker or none, its threads)."""
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "gateway", "--processes", "1", "--reuse-port"]
    command += ["--grace", str(grace), *process_args]
    env = sibling_environment(listener, profiled)
    started = []
    try:
        for number in range(1, count + 1):
            started.append(Sibling(number, command, env, output).launch())
        deadline = time.monotonic() + START_TIMEOUT
        for sibling in started:
            sibling.wait_ready(max(0.0, deadline - time.monotonic()))
    except BaseException:
        for sibling in started:
            sibling.stop(grace=0)
        raise
    log.info("%d gateway sibling process(es) started", count)
    return started


def stop_all(siblings, grace):
    """Stop every sibling (in parallel: each waits for its own work to end)."""
    threads = [threading.Thread(target=s.stop, args=(grace,)) for s in siblings]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + grace + 20
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
