"""The bounce a sender gets (RFC 3464), built from plain values and read back
as a mail client would read it."""

import datetime
import email
import email.policy

from gateway.dsn import Failure, build_dsn, original_headers, status_of

ARRIVED = datetime.datetime(2026, 11, 2, 9, 30, tzinfo=datetime.UTC)
ORIGINAL = ("From: Zoë <zoe@example.org>\nTo: bob@example.net\nSubject: Grüße\n\nThe body is not returned.\n").encode()


def build(failures, **overrides):
    values = {
        "original_sender": "zoe@example.org",
        "failures": failures,
        "original_raw": ORIGINAL,
        "arrival_date": ARRIVED,
        "reporting_mta": "gw.example.org",
        "postmaster": "postmaster@gw.example.org",
        "queue_id": "A1B2C3D4E5F6",
    }
    return build_dsn(**(values | overrides))


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_a_dsn_is_a_delivery_status_report_for_each_failed_recipient():
    raw = build(
        [
            Failure("bob@example.net", "5.1.1", "550 5.1.1 no such user", remote_mta="mx.example.net"),
            Failure("eve@example.net", "5.4.7", "delivery time expired; last reply: 451 4.3.0 busy"),
        ]
    )
    report = parse(raw)

    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["Auto-Submitted"] == "auto-replied"
    assert report["To"] == "zoe@example.org"
    assert report["From"].addresses[0].addr_spec == "postmaster@gw.example.org"
    assert report["Message-ID"].endswith("@gw.example.org>")
    human, status, headers = report.get_payload()
    assert human.get_content_type() == "text/plain"
    assert "<bob@example.net>: 550 5.1.1 no such user" in human.get_content()
    per_message, bob, eve = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; gw.example.org"
    assert per_message["Arrival-Date"] == "Mon, 02 Nov 2026 09:30:00 +0000"
    assert dict(bob.items()) == {
        "Final-Recipient": "rfc822; bob@example.net",
        "Action": "failed",
        "Status": "5.1.1",
        "Remote-MTA": "dns; mx.example.net",
        "Diagnostic-Code": "smtp; 550 5.1.1 no such user",
    }
    assert eve["Status"] == "5.4.7"
    assert "Remote-MTA" not in eve
    assert headers.get_content_type() == "text/rfc822-headers"


def test_the_original_headers_come_back_unchanged_but_not_the_body():
    headers = parse(build([Failure("bob@example.net", "5.1.1", "550 no")])).get_payload()[2]
    returned = headers.get_payload(decode=True)
    assert returned == "From: Zoë <zoe@example.org>\r\nTo: bob@example.net\r\nSubject: Grüße\r\n".encode()
    assert b"The body" not in returned


def test_every_line_ends_in_crlf():
    raw = build([Failure("bob@example.net", "5.1.1", "550 5.1.1 no\r\n such user")])
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_a_multi_line_reply_becomes_one_diagnostic_line():
    report = parse(build([Failure("bob@example.net", "5.1.1", "550-5.1.1 first\r\n550 5.1.1 second")]))
    block = report.get_payload()[1].get_payload()[1]
    assert block["Diagnostic-Code"] == "smtp; 550-5.1.1 first 550 5.1.1 second"


def test_status_comes_from_the_reply_when_it_has_one():
    assert status_of(550, "5.1.1 no such user") == "5.1.1"
    assert status_of(554, "5.7.1 spam") == "5.7.1"
    assert status_of(550, "no such user") == "5.0.0"
    assert status_of(550, "4.2.2 mailbox full") == "5.2.2", "a failure is reported as permanent"


def test_original_headers_stop_at_the_first_empty_line():
    assert original_headers(b"A: 1\r\nB: 2\r\n\r\nbody\r\n") == b"A: 1\r\nB: 2\r\n"
    assert original_headers(b"A: 1\nB: 2\n\nbody\n") == b"A: 1\r\nB: 2\r\n"
    assert original_headers(b"A: 1\r\n") == b"A: 1\r\n"
