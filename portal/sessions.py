"""A per-user session token, kept in each session at login. Rotating it
ends every session that holds the old one (SessionTokenMiddleware)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare

SESSION_KEY = "lockpost_session_token"


def _token(user):
    from portal.models import SessionToken

    row, _ = SessionToken.objects.get_or_create(user=user)
    return row.token


def is_current(request):
    held = request.session.get(SESSION_KEY, "")
    return bool(held) and constant_time_compare(held, _token(request.user))


def remember(request, user):
    request.session[SESSION_KEY] = _token(user)


def rotate(request):
    """Log out every other session of this user; this one stays."""
    from portal.models import SessionToken

    row, _ = SessionToken.objects.get_or_create(user=request.user)
    row.rotate()
    request.session[SESSION_KEY] = row.token


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    # Every login, the portal's or the admin's, gets the current token.
    if request is not None and hasattr(request, "session"):
        remember(request, user)
