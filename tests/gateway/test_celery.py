"""With a broker: the LMTP listener rings through Redis and a real
`celery -A lockpost worker -B` process processes and delivers."""

import os
import subprocess
import sys
import time
import uuid

import pytest

from gateway.lmtp_client import send
from gateway.models import Message
from tests.support.gateway_process import REPO
from tests.support.spooled import mail_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("LOCKPOST_REDIS_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture
def redis_broker():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("LOCKPOST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is required but not reachable: {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({error}); set LOCKPOST_REDIS_URL")
    queue = f"lockpost-test-{uuid.uuid4().hex[:12]}"  # our own queue on a shared broker
    yield client, queue
    client.delete(queue)
    client.close()


class CeleryWorker:
    def __init__(self, env, workdir):
        self.env = env
        self.log = workdir / "celery.log"
        self.schedule = workdir / "beat-schedule"
        self.proc = None

    def start(self, timeout=60):
        command = [sys.executable, "-m", "celery", "-A", "lockpost", "worker", "-B", "-c", "2"]
        command += ["--loglevel", "INFO", "--schedule", str(self.schedule), "--without-gossip", "--without-mingle"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Celery worker did not come up:\n{self.output()[-3000:]}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self):
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""


@pytest.fixture
def celery_gateway(gateway_process, smtp_sink, redis_broker, tmp_path):
    """(listener process, unstarted Celery worker, sink), all on one broker queue."""
    _client, queue = redis_broker
    env = {"CELERY_BROKER_URL": REDIS_URL, "LOCKPOST_CELERY_QUEUE": queue}
    gateway = gateway_process(smtp_sink.address, env=env)
    assert "embedded worker" not in gateway.output()  # Celery does the work
    worker = CeleryWorker(gateway.env, tmp_path)
    yield gateway, worker, smtp_sink
    worker.stop()


def wait_state(queue_id, state, timeout, logs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Message.objects.filter(queue_id=queue_id, state=state).exists():
            return
        time.sleep(0.1)
    found = Message.objects.filter(queue_id=queue_id).values_list("state", flat=True).first()
    raise AssertionError(f"message {queue_id} is {found}, not {state}\n{logs()[-4000:]}")


def submit(gateway, rcpts):
    replies = send(gateway.host, gateway.port, "a@partner.test", rcpts, mail_bytes("a@partner.test", to=rcpts))
    assert [r.code for r in replies] == [250] * len(rcpts)
    return replies[0].text.rsplit(" ", 1)[-1]


def test_a_celery_worker_processes_and_delivers_end_to_end(celery_gateway):
    gateway, worker, sink = celery_gateway
    worker.start()
    queue_id = submit(gateway, ["b@x.test", "c@x.test"])
    [mail] = sink.wait_for(1, timeout=30)
    assert sorted(mail.rcpt_tos) == ["b@x.test", "c@x.test"]
    assert f"with LMTP id {queue_id};".encode() in mail.data
    wait_state(queue_id, Message.State.DELIVERED, 20, worker.output)
    assert "gateway.tasks.process_message" in worker.output()


def test_a_ring_lost_in_the_broker_is_rung_again_by_beat(celery_gateway, redis_broker):
    client, queue = redis_broker
    gateway, worker, sink = celery_gateway
    queue_id = submit(gateway, ["b@x.test"])
    # The task waits in Redis: no worker yet. Lose it, as a broker restart without persistence would.
    assert client.llen(queue) == 1
    client.delete(queue)
    worker.start()
    [mail] = sink.wait_for(1, timeout=30)
    assert mail.rcpt_tos == ["b@x.test"]
    wait_state(queue_id, Message.State.DELIVERED, 20, worker.output)
    assert "gateway.tasks.sweep" in worker.output()
