"""`manage.py gateway --processes N`: N processes on one listen address, so
the gateway uses every core. Mail sent over many connections reaches each
recipient once, whichever process took it; a sibling that dies is started
again; stopping the first process stops them all."""

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from gateway.lmtp_client import send
from gateway.models import Message
from tests.support.spooled import mail_bytes
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def children(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def gateway_children(pid):
    return [child for child in children(pid) if b"gateway" in Path(f"/proc/{child}/cmdline").read_bytes()]


def gone(pid):
    """Ended (a zombie left for a reaper that may never come counts as ended)."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def submit(gateway, n):
    rcpt = f"user{n}@partner.test"
    replies = send(gateway.host, gateway.port, "alice@corp.test", [rcpt], mail_bytes("alice@corp.test", to=[rcpt]))
    assert [r.code for r in replies] == [250], replies


def test_two_processes_share_the_address_and_each_message_arrives_once(gateway_process, smtp_sink):
    gateway = gateway_process(next_hop=smtp_sink.address, args=["--processes", "2"])
    assert "2 processes" in gateway.output()
    [sibling] = gateway_children(gateway.proc.pid)

    for n in range(40):  # one connection each: the kernel spreads them over both processes
        submit(gateway, n)
    smtp_sink.wait_for(40, timeout=60)
    arrived = Counter(rcpt for mail in smtp_sink.received for rcpt in mail.rcpt_tos)
    assert arrived == Counter(f"user{n}@partner.test" for n in range(40))
    wait_until(lambda: Message.objects.filter(state=Message.State.DELIVERED).count() == 40, what="all delivered")

    gateway.stop()
    wait_until(lambda: gone(sibling), timeout=15, what="the sibling to stop with it")


def test_a_sibling_that_dies_is_started_again_and_mail_keeps_flowing(gateway_process, smtp_sink):
    gateway = gateway_process(next_hop=smtp_sink.address, args=["--processes", "2"])
    [sibling] = gateway_children(gateway.proc.pid)
    os.kill(sibling, signal.SIGKILL)
    wait_until(lambda: gateway_children(gateway.proc.pid) not in ([], [sibling]), what="a new sibling")
    wait_until(lambda: "exited with" in gateway.output(), what="the restart to be logged")

    for n in range(10):
        submit(gateway, n)
    smtp_sink.wait_for(10, timeout=60)
    assert sorted(r for mail in smtp_sink.received for r in mail.rcpt_tos) == sorted(
        f"user{n}@partner.test" for n in range(10)
    )


def test_siblings_stop_when_the_first_process_is_killed(gateway_process, smtp_sink):
    gateway = gateway_process(next_hop=smtp_sink.address, args=["--processes", "2"])
    [sibling] = gateway_children(gateway.proc.pid)
    gateway.kill()  # SIGKILL: no chance to stop them itself
    wait_until(lambda: gone(sibling), timeout=30, what="the orphaned sibling to stop")


def test_siblings_take_the_first_processes_worker_options(gateway_process, smtp_sink):
    gateway = gateway_process(next_hop=smtp_sink.address, args=["--processes", "2", "--no-worker"])
    [sibling] = gateway_children(gateway.proc.pid)
    assert b"--no-worker" in Path(f"/proc/{sibling}/cmdline").read_bytes().split(b"\0")

    for n in range(10):  # some reach the sibling: it must not process them either
        submit(gateway, n)
    processed = Message.objects.exclude(state=Message.State.RECEIVED)
    with pytest.raises(TimeoutError):
        wait_until(processed.exists, timeout=2, what="a message processed")
    assert smtp_sink.received == []
