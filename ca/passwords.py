"""Strong passwords a person can type from an SMS: no look-alike characters
(0/O, 1/l/I), grouped for reading."""

import secrets

UNAMBIGUOUS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate(length=16, alphabet=UNAMBIGUOUS, group=4):
    """About 5.8 bits a character with the default alphabet: 16 characters
    give 93 bits. Groups are joined with '-', which is not counted."""
    if length < 8:
        raise ValueError("passwords shorter than 8 characters are too weak")
    chars = "".join(secrets.choice(alphabet) for _ in range(length))
    if not group:
        return chars
    return "-".join(chars[i : i + group] for i in range(0, length, group))
