"""The first handlers, run as the worker runs them: classification by the
domains marked internal, settings per recipient, grouping (Bcc alone), the
trace header."""

import pytest

from gateway import pipeline
from gateway.handlers import classify, group, resolve_settings, trace_header
from gateway.models import Domain, MailUser, Setting
from tests.support.spooled import mail_bytes


@pytest.fixture
def corp(db):
    return Domain.objects.create(name="corp.test", internal=True)


# The first handlers, on their own: later issues add handlers around them.
FIRST_HANDLERS = [
    classify.classify_recipients,
    resolve_settings.resolve_settings,
    group.group_recipients,
    trace_header.add_trace_header,
]


def run(mail_from, rcpt_tos, data=None, **header_fields):
    data = data if data is not None else mail_bytes(mail_from, **header_fields)
    context = pipeline.Context(
        queue_id="ABC123",
        mail_from=mail_from,
        raw=data,
        recipients=[pipeline.RecipientInfo(address=a, position=n) for n, a in enumerate(rcpt_tos)],
        client_address="127.0.0.1",
        client_helo="mta.corp.test",
    )
    return pipeline.run(context, FIRST_HANDLERS)


def directions(context):
    return {r.address: r.direction for r in context.recipients}


def groups_by_address(context):
    return sorted(sorted(context.recipient(p).address for p in g.positions) for g in context.groups)


def test_mail_from_an_internal_sender_is_internal_or_outgoing_by_recipient(corp):
    context = run(
        "alice@corp.test", ["bob@corp.test", "carol@partner.test"], to=["bob@corp.test", "carol@partner.test"]
    )
    assert directions(context) == {"bob@corp.test": "internal", "carol@partner.test": "outgoing"}


def test_mail_from_outside_is_incoming_for_everyone(corp):
    context = run("eve@partner.test", ["bob@corp.test", "carol@corp.test"], to=["bob@corp.test", "carol@corp.test"])
    assert set(directions(context).values()) == {"incoming"}


def test_a_subdomain_of_an_internal_wildcard_counts_as_internal(db):
    Domain.objects.create(name="*.corp.test", internal=True)
    context = run("alice@sales.corp.test", ["dan@partner.test"], to=["dan@partner.test"])
    assert directions(context) == {"dan@partner.test": "outgoing"}


def test_a_bounce_with_a_null_sender_is_incoming(corp):
    context = run("", ["bob@corp.test"], to=["bob@corp.test"])
    assert directions(context) == {"bob@corp.test": "incoming"}


def test_recipients_with_the_same_treatment_share_one_output(corp):
    rcpts = ["a@partner.test", "b@partner.test", "c@other.test"]
    context = run("alice@corp.test", rcpts, to=rcpts)
    assert groups_by_address(context) == [rcpts]
    assert not any(r.bcc for r in context.recipients)


def test_each_bcc_recipient_gets_an_output_of_their_own(corp):
    rcpts = ["a@partner.test", "b@partner.test", "hidden1@partner.test", "hidden2@partner.test"]
    context = run("alice@corp.test", rcpts, to=["a@partner.test"], cc=["b@partner.test"])
    assert groups_by_address(context) == [
        ["a@partner.test", "b@partner.test"],
        ["hidden1@partner.test"],
        ["hidden2@partner.test"],
    ]
    assert {r.address for r in context.recipients if r.bcc} == {"hidden1@partner.test", "hidden2@partner.test"}


def test_different_treatment_splits_the_recipients(corp):
    # Internal and outgoing copies are treated differently (one is encrypted
    # for outside, the other not), so they never share an output.
    rcpts = ["bob@corp.test", "carol@partner.test", "dan@partner.test"]
    context = run("alice@corp.test", rcpts, to=rcpts)
    assert groups_by_address(context) == [["bob@corp.test"], ["carol@partner.test", "dan@partner.test"]]


def test_group_keys_are_stable_across_runs(corp):
    rcpts = ["bob@corp.test", "carol@partner.test"]
    data = mail_bytes("alice@corp.test", to=rcpts)
    first, second = run("alice@corp.test", rcpts, data), run("alice@corp.test", rcpts, data)
    assert [g.key for g in first.groups] == [g.key for g in second.groups]


def test_settings_are_resolved_per_recipient_with_their_origin(corp):
    # Incoming mail follows each recipient's own settings.
    bob = MailUser.objects.create(email="bob@corp.test")
    Setting.objects.create(key="encryption_mode", value="mandatory", user=bob)
    Setting.objects.create(key="encryption_mode", value="allow", domain=corp)
    context = run("eve@partner.test", ["bob@corp.test", "carol@corp.test"], to=["bob@corp.test", "carol@corp.test"])
    bob_mode = context.recipient(0).settings["encryption_mode"]
    carol_mode = context.recipient(1).settings["encryption_mode"]
    assert (bob_mode.value, bob_mode.origin) == ("mandatory", "user bob@corp.test")
    assert (carol_mode.value, carol_mode.origin) == ("allow", "domain corp.test")
    # ... and different settings mean different outputs.
    assert groups_by_address(context) == [["bob@corp.test"], ["carol@corp.test"]]


def test_outgoing_mail_follows_the_senders_settings(corp):
    alice = MailUser.objects.create(email="alice@corp.test")
    Setting.objects.create(key="encryption_mode", value="never", user=alice)
    context = run("alice@corp.test", ["carol@partner.test"], to=["carol@partner.test"])
    mode = context.recipient(0).settings["encryption_mode"]
    assert (mode.value, mode.origin) == ("never", "user alice@corp.test")


def test_the_trace_header_is_prepended_and_the_original_bytes_kept(corp):
    original = mail_bytes("alice@corp.test", to=["bob@corp.test"])
    context = run("alice@corp.test", ["bob@corp.test"], original)
    [group] = context.groups
    out = context.content_for(group)
    assert out.startswith(b"Received: from mta.corp.test ([127.0.0.1])\r\n\tby ")
    assert b"(Lockpost) with LMTP id ABC123;" in out
    assert out.endswith(original)
    # Folded header lines end in CRLF and continue with a tab.
    header = out[: len(out) - len(original)]
    assert header.count(b"\r\n") == 3


def test_the_trail_says_what_each_handler_did(corp):
    context = run("alice@corp.test", ["bob@corp.test", "x@partner.test"], to=["bob@corp.test"])
    stages = [note.stage for note in context.trail]
    assert stages == ["classify", "settings", "group", "trace"]
    assert "1 Bcc alone" in context.trail[2].text


def test_a_failing_handler_is_named_in_the_error(corp):
    def broken(ctx):
        raise ValueError("no good")

    context = pipeline.Context("Q1", "a@corp.test", b"Subject: x\r\n\r\nx", [])
    with pytest.raises(pipeline.HandlerError, match=r"broken failed: ValueError: no good"):
        pipeline.run(context, [broken])
