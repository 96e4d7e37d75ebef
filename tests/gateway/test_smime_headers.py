"""gateway.smime_headers.field_bytes: a header field as the email package
writes it, whichever way it is made."""

import email.policy
import random
import string

import pytest

from gateway.smime_headers import field_bytes

NAMES = ["X-Lockpost-Info-Signature", "X-Lockpost-Info-Signer", "Subject", "HP-Outer", "To", "From", "Date"]
ALPHABET = string.ascii_letters + string.digits + " ()<>@,;:\\\".[]?=_-'!#$%&*+/^`{|}~\té€"


def written_by_the_email_package(name, value):
    header = email.policy.SMTP.header_factory(name, " ".join(str(value).split()))
    return header.fold(policy=email.policy.SMTP).encode("ascii")


def fields():
    """Names free-text and structured, values plain, odd and long (a fixed sample)."""
    rnd = random.Random(9788)
    found = [(name, "") for name in NAMES] + [("Subject", "=?utf-8?q?caf=C3=A9?="), ("Subject", "x" * 90)]
    for _ in range(400):
        found.append((rnd.choice(NAMES), "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 80)))))
    return found


def outcome(write, name, value):
    """What `write` gives, or the type of the error it raises (the email
    package chokes on some structured values)."""
    try:
        return write(name, value)
    except Exception as error:
        return type(error)


@pytest.mark.parametrize(("name", "value"), fields())
def test_a_field_is_written_as_the_email_package_writes_it(name, value):
    assert outcome(field_bytes, name, value) == outcome(written_by_the_email_package, name, value)
