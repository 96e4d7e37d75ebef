"""Users are created when first seen: the spool calls `remember` with the
sender and recipients of every message it stores."""

from gateway.models import MailUser


def remember(addresses):
    """Make sure a MailUser exists for each address. Empty addresses (the null
    sender) and anything without an @ are skipped. Safe inside the spool's
    transaction and against a concurrent spool: existing rows are left alone
    instead of raising."""
    emails = {a.strip().lower() for a in addresses if a and "@" in a.strip()[1:]}
    # An address too long for the column would fail the whole spool transaction.
    emails = {e for e in emails if len(e) <= MailUser._meta.get_field("email").max_length}
    if emails:
        MailUser.objects.bulk_create([MailUser(email=e) for e in sorted(emails)], ignore_conflicts=True)
