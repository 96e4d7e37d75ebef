"""The SMTP sink every delivery test relies on: it must behave like a real
next hop, so it is checked with a plain SMTP client first."""

import smtplib
import ssl

import pytest

MESSAGE = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\n.dot line\r\nbody " + b"x" * 2000 + b"\r\n"


def client_tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_sink_keeps_envelope_and_exact_bytes(smtp_sink):
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("a@example.org", ["b@example.net", "c@example.net"], MESSAGE)
    [mail] = smtp_sink.wait_for(1)
    assert mail.mail_from == "a@example.org"
    assert mail.rcpt_tos == ["b@example.net", "c@example.net"]
    assert mail.data == MESSAGE
    assert mail.tls is False


def test_sink_scripts_recipient_and_data_replies(make_smtp_sink):
    sink = make_smtp_sink(rcpt_replies={"bad@example.net": "550 5.1.1 no such user"}, data_replies=["451 4.3.0 later"])
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.org", ["bad@example.net", "ok@example.net"], MESSAGE)
        assert refused.value.smtp_code == 451
        refusals = client.sendmail("a@example.org", ["bad@example.net", "ok@example.net"], MESSAGE)
    assert refusals == {"bad@example.net": (550, b"5.1.1 no such user")}
    [mail] = sink.wait_for(1)
    assert mail.rcpt_tos == ["ok@example.net"]


def test_sink_offers_starttls_and_auth(make_smtp_sink):
    sink = make_smtp_sink(starttls=True, auth=("relay", "s3cret"))
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=client_tls_context())
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("relay", "wrong")
        client.login("relay", "s3cret")
        client.sendmail("a@example.org", ["b@example.net"], MESSAGE)
    [mail] = sink.wait_for(1)
    assert mail.tls is True
    assert mail.auth_user == "relay"
    assert sink.auth_failures >= 1  # smtplib tries each mechanism it knows


def test_sink_can_require_tls(make_smtp_sink):
    sink = make_smtp_sink(require_tls=True)
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client, pytest.raises(smtplib.SMTPSenderRefused):
        client.sendmail("a@example.org", ["b@example.net"], MESSAGE)


def test_wait_for_times_out_when_nothing_arrives(smtp_sink):
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(1, timeout=0.2)


def test_a_null_sender_is_recorded_as_empty(smtp_sink):
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("", ["b@example.net"], MESSAGE)
    assert smtp_sink.wait_for(1)[0].mail_from == ""
