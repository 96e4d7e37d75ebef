"""Delivery status notifications (RFC 3464): the bounce a sender gets when a
recipient fails for good. A pure builder: plain values in, bytes out."""

import datetime
import email.charset
import email.generator
import email.policy
import io
import re
from dataclasses import dataclass
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

POLICY = email.policy.SMTP
ENHANCED_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
HEADER_END = re.compile(rb"\r?\n\r?\n")
BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass
class Failure:
    """One recipient that will not get the message."""

    recipient: str
    status: str  # enhanced status code, e.g. "5.1.1"
    diagnostic: str  # what the next hop said, or why we gave up
    remote_mta: str = ""  # host name of the next hop that refused, if one did
    last_attempt: object = None  # datetime


def status_of(reply_code, reply_text, default="5.0.0"):
    """The enhanced status code for a failed recipient: the one in the
    reply's text if present, turned permanent; otherwise `default`."""
    found = ENHANCED_STATUS.match(reply_text or "")
    if found:
        return f"5.{found.group(2)}.{found.group(3)}"
    return default


def original_headers(raw):
    """The header block of a message, CRLF line endings, without the body."""
    end = HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    return BARE_LF.sub(b"\r\n", head).rstrip(b"\r\n") + b"\r\n"


def build_dsn(*, original_sender, failures, original_raw, arrival_date, reporting_mta, postmaster, queue_id=""):
    """A multipart/report; report-type=delivery-status addressed to the
    original sender, as bytes with CRLF line endings."""
    report = MIMEMultipart("report", report_type="delivery-status", policy=POLICY)
    report["From"] = formataddr(("Mail Delivery System", postmaster))
    report["To"] = original_sender
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = format_datetime(_now())
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"
    report.attach(_human_part(failures, reporting_mta))
    report.attach(_status_part(failures, arrival_date, reporting_mta, queue_id))
    report.attach(_headers_part(original_headers(original_raw)))
    out = io.BytesIO()
    email.generator.BytesGenerator(out, policy=POLICY).flatten(report)
    return out.getvalue()


def _now():
    return datetime.datetime.now(datetime.UTC)


def _human_part(failures, reporting_mta):
    lines = [
        f"This is the mail system at host {reporting_mta}.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. The reasons follow.",
        "",
    ]
    for failure in failures:
        lines.append(f"<{failure.recipient}>: {_one_line(failure.diagnostic)}")
    charset = email.charset.Charset("utf-8")
    charset.body_encoding = email.charset.QP
    part = MIMEText("\n".join(lines) + "\n", "plain", charset, policy=POLICY)
    part["Content-Description"] = "Notification"
    del part["MIME-Version"]
    return part


def _status_part(failures, arrival_date, reporting_mta, queue_id):
    per_message = Message(policy=POLICY)
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    if queue_id:
        per_message["X-Lockpost-Queue-ID"] = queue_id
    per_message["Arrival-Date"] = format_datetime(arrival_date)
    blocks = [per_message]
    for failure in failures:
        block = Message(policy=POLICY)
        block["Final-Recipient"] = f"rfc822; {failure.recipient}"
        block["Action"] = "failed"
        block["Status"] = failure.status
        if failure.remote_mta:
            block["Remote-MTA"] = f"dns; {failure.remote_mta}"
        block["Diagnostic-Code"] = f"smtp; {_one_line(failure.diagnostic)}"
        if failure.last_attempt is not None:
            block["Last-Attempt-Date"] = format_datetime(failure.last_attempt)
        blocks.append(block)
    part = MIMEBase("message", "delivery-status", policy=POLICY)
    del part["MIME-Version"]
    part["Content-Description"] = "Delivery report"
    part.set_payload(blocks)
    return part


def _headers_part(headers):
    part = MIMEBase("text", "rfc822-headers", policy=POLICY)
    del part["MIME-Version"]
    part["Content-Description"] = "Undelivered Message Headers"
    if not headers.isascii():
        # Raw 8-bit header bytes are passed through, not re-encoded.
        part["Content-Transfer-Encoding"] = "8bit"
    part.set_payload(headers.decode("ascii", "surrogateescape"))
    return part


def _one_line(text):
    return " ".join((text or "").split())
