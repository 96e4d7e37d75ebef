"""Connections to the next hop kept open between deliveries: one connection
for deliveries in a row, a new one (and the message sent once) when the kept
one was dropped or answers 421, and none left open when idle."""

import time

import pytest

from gateway import next_hop
from gateway.delivery import deliver
from gateway.models import Delivery, Recipient
from tests.support.delivery_rows import make_delivery, reload

pytestmark = pytest.mark.django_db

BOB, CAROL = "bob@example.net", "carol@example.net"


@pytest.fixture(autouse=True)
def no_kept_connection():
    """Each test starts and ends without a connection kept by this thread."""
    next_hop.close_kept()
    yield
    next_hop.close_kept()


@pytest.fixture
def sink(settings, smtp_sink):
    settings.LOCKPOST_NEXT_HOP = smtp_sink.address
    return smtp_sink


def delivered(delivery):
    delivery, _, recipients = reload(delivery)
    return delivery.state == Delivery.State.DELIVERED and all(r.state == Recipient.State.DELIVERED for r in recipients)


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_two_deliveries_in_a_row_use_one_connection(sink):
    first, second = make_delivery([BOB]), make_delivery([CAROL])

    deliver(first.pk)
    deliver(second.pk)

    assert [mail.rcpt_tos for mail in sink.wait_for(2)] == [[BOB], [CAROL]]
    assert sink.connections == 1
    assert delivered(first)
    assert delivered(second)


def test_a_connection_the_next_hop_dropped_is_opened_again_and_the_message_sent_once(sink):
    first, second = make_delivery([BOB]), make_delivery([CAROL])
    deliver(first.pk)

    sink.drop_connections()
    deliver(second.pk)

    assert [mail.rcpt_tos for mail in sink.wait_for(2)] == [[BOB], [CAROL]]
    assert sink.connections == 2
    assert delivered(second)
    assert reload(second)[0].attempts == 1


def test_a_421_on_the_kept_connection_leads_to_a_new_one(sink):
    first, second = make_delivery([BOB]), make_delivery([CAROL])
    deliver(first.pk)

    sink.mail_replies.append("421 4.4.2 idle too long, closing")
    deliver(second.pk)

    assert [mail.rcpt_tos for mail in sink.wait_for(2)] == [[BOB], [CAROL]]
    assert sink.connections == 2
    assert delivered(second)


def test_a_refusal_after_data_on_the_kept_connection_counts_as_always(sink):
    # The message may have been taken once DATA is under way: no second try
    # at once, the delivery waits for its retry as it would on a new connection.
    first, second = make_delivery([BOB]), make_delivery([CAROL])
    deliver(first.pk)

    sink.data_replies.append("451 4.3.0 try later")
    deliver(second.pk)

    assert len(sink.wait_for(1)) == 1
    second, _, [carol] = reload(second)
    assert second.state == Delivery.State.DEFERRED
    assert carol.reply == "451 4.3.0 try later"
    assert sink.connections == 1


def test_a_new_next_hop_gets_a_new_connection(settings, sink, make_smtp_sink):
    deliver(make_delivery([BOB]).pk)
    other = make_smtp_sink()
    settings.LOCKPOST_NEXT_HOP = other.address

    deliver(make_delivery([CAROL]).pk)

    assert [mail.rcpt_tos for mail in other.wait_for(1)] == [[CAROL]]
    assert wait_until(lambda: sink.open_connections == 0), "the first next hop's connection is closed"


def test_an_idle_connection_is_closed(sink, monkeypatch):
    monkeypatch.setattr(next_hop, "IDLE_SECONDS", 0.2)
    monkeypatch.setattr(next_hop, "REAP_EVERY", 0.05)
    deliver(make_delivery([BOB]).pk)
    assert sink.open_connections == 1

    assert wait_until(lambda: sink.open_connections == 0)

    deliver(make_delivery([CAROL]).pk)
    assert len(sink.wait_for(2)) == 2
    assert sink.connections == 2


def test_a_stopping_worker_thread_closes_its_connection(sink):
    deliver(make_delivery([BOB]).pk)
    assert sink.open_connections == 1

    next_hop.close_kept()

    assert wait_until(lambda: sink.open_connections == 0)
