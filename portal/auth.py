"""Who may see a portal page. Views use `portal_login_required`; later pages
(inbox, quarantine) use it too, or `manager_required` for staff pages.

External recipients always prove a second factor (SMS or TOTP); internal
users do when they have enrolled an authenticator app."""

from functools import wraps
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device


def is_external(user):
    return hasattr(user, "external_account")


def needs_second_factor(user):
    return is_external(user) or user_has_device(user, confirmed=True)


def fully_logged_in(request):
    user = request.user
    if not user.is_authenticated:
        return False
    return not needs_second_factor(user) or user.is_verified()


def portal_login_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not fully_logged_in(request):
            login = reverse("portal:login")
            return redirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view):
    """Staff (internal users and DLP managers) only; external accounts never."""

    @wraps(view)
    @portal_login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff or is_external(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
