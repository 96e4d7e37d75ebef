"""The outbox: with no next hop configured, each output is written into a
folder as an .eml file, so a newcomer sees at once what Lockpost would send."""

import os
import re
import tempfile
from pathlib import Path

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(queue_id, group_key):
    return f"{UNSAFE.sub('_', queue_id)}-{UNSAFE.sub('_', group_key)}.eml"


def envelope_headers(mail_from, recipients):
    """Return-Path and X-Lockpost-Envelope-To: the envelope, which a file
    would otherwise lose. CR and LF are dropped so no address can add a header."""

    def clean(text):
        return text.replace("\r", "").replace("\n", "")

    lines = [f"Return-Path: <{clean(mail_from)}>"]
    lines += [f"X-Lockpost-Envelope-To: {clean(address)}" for address in recipients]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def write(directory, name, mail_from, recipients, content):
    """Writes the file atomically (temporary file, fsync, rename) and returns
    its path. Writing the same name again replaces it, so a repeat after a
    crash leaves one file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(envelope_headers(mail_from, recipients))
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o640)
        path = directory / name
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
