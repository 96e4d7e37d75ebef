"""Passwords a person can read off a phone and type: random from the secrets
module, from an alphabet without look-alikes (0/O/o, 1/l/I/i) by default.

one_time_password derives the password of one message for one recipient
from that recipient's secret and the message's id, so the portal can show
it again later without storing it."""

import hashlib
import hmac
import secrets
import string

UNAMBIGUOUS = "".join(c for c in string.digits + string.ascii_letters if c not in "0O1lIio")


def _check(length: int, alphabet: str) -> str:
    if length < 1:
        raise ValueError("password length must be at least 1")
    distinct = "".join(dict.fromkeys(alphabet))  # keep order, drop repeats (they would bias)
    if len(distinct) < 2:
        raise ValueError("password alphabet needs at least two different characters")
    return distinct


def generate_password(length: int = 12, alphabet: str = UNAMBIGUOUS) -> str:
    alphabet = _check(length, alphabet)
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _hmac_stream(secret: bytes, message_id: str):
    """Bytes of HMAC-SHA256(secret, label | message id | counter), block after block."""
    counter = 0
    while True:
        block = hmac.new(
            secret, b"lockpost-pdf-otp\x00" + message_id.encode() + b"\x00" + counter.to_bytes(4, "big"), hashlib.sha256
        ).digest()
        yield from block
        counter += 1


def one_time_password(secret: bytes, message_id: str, length: int = 12, alphabet: str = UNAMBIGUOUS) -> str:
    """The same inputs always give the same password; another message id or
    another recipient's secret gives an unrelated one."""
    if len(secret) < 16:
        raise ValueError("the per-recipient secret must be at least 16 bytes")
    alphabet = _check(length, alphabet)
    if len(alphabet) > 256:
        raise ValueError("password alphabet may have at most 256 characters")
    # Rejection sampling: use only bytes below a multiple of the alphabet
    # size, so every character is equally likely.
    limit = 256 - 256 % len(alphabet)
    out = []
    for byte in _hmac_stream(secret, message_id):
        if byte < limit:
            out.append(alphabet[byte % len(alphabet)])
            if len(out) == length:
                return "".join(out)
    raise AssertionError("unreachable: the stream is endless")
