"""Ends a session whose per-user token no longer matches: "log out
everywhere" rotates the token, and every other session of that user is over."""

from django.contrib.auth import logout

from portal import sessions


class SessionTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not sessions.is_current(request):
            logout(request)
        return self.get_response(request)
