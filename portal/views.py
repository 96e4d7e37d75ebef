"""Portal pages: login with a second factor, account activation, TOTP
enrolment, logging out (here or everywhere) and certificate pickup."""

import base64
import logging
import time

import segno
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import accounts, limits, pickup, sessions, sms
from portal.auth import fully_logged_in, is_external, needs_second_factor, portal_login_required
from portal.forms import CodeForm
from portal.models import PickupDownload

log = logging.getLogger(__name__)

PENDING_KEY = "lockpost_pending_login"
ACTIVATING_KEY = "lockpost_activating"
# Between password and code, no longer than this.
PENDING_SECONDS = 600
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request, default="portal:home"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(default)


def _totp_device(user, confirmed=True):
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).first()


def _send_code(request, user):
    try:
        accounts.send_code(user)
    except sms.SmsError:
        log.warning("login code for %s could not be sent by SMS", user.username)
        messages.error(request, _("We could not send a code by SMS. Try again later or ask your contact."))


@portal_login_required
def home(request):
    return render(request, "portal/home.html", {"external": is_external(request.user)})


@sensitive_post_parameters("password")
def login_view(request):
    if fully_logged_in(request):
        return redirect(_safe_next(request))
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        if not needs_second_factor(user):
            login(request, user, backend=BACKEND)
            return redirect(_safe_next(request))
        # Password right; the session is not logged in until the code is.
        request.session.cycle_key()
        request.session[PENDING_KEY] = {"user": user.pk, "at": time.time(), "next": _safe_next(request)}
        if _totp_device(user) is None:
            _send_code(request, user)
        return redirect("portal:login-code")
    return render(request, "portal/login.html", {"form": form, "next": request.GET.get("next", "")})


def _pending_user(request):
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


def _code_refused(request, template, context):
    context["blocked"] = True
    return render(request, template, context, status=429)


@sensitive_post_parameters("code")
def login_code(request):
    user, pending = _pending_user(request)
    if user is None:
        return redirect("portal:login")
    totp = _totp_device(user)
    device = totp or accounts.sms_device(user)
    scope = f"user:{user.pk}"
    form = CodeForm(request.POST or None)
    context = {"form": form, "method": "totp" if totp else "sms"}
    if limits.blocked(scope):
        return _code_refused(request, "portal/login_code.html", context)
    if request.method == "POST" and "resend" in request.POST and not totp:
        _send_code(request, user)
        return redirect("portal:login-code")
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            limits.clear(scope)
            del request.session[PENDING_KEY]
            login(request, user, backend=BACKEND)
            otp_login(request, device)
            return redirect(pending["next"])
        limits.failed(scope)
        log.info("wrong second-factor code for %s", user.username)
        if limits.blocked(scope):
            return _code_refused(request, "portal/login_code.html", context)
        form.add_error("code", _("That code is not right, or it has expired."))
    return render(request, "portal/login_code.html", context)


@require_POST
def logout_view(request):
    logout(request)
    messages.info(request, _("You are logged out."))
    return redirect("portal:login")


@require_POST
@portal_login_required
def logout_everywhere(request):
    sessions.rotate(request)
    messages.info(request, _("Every other session of your account is logged out."))
    return redirect("portal:security")


@portal_login_required
def security(request):
    return render(request, "portal/security.html", {"totp": _totp_device(request.user)})


def _totp_context(device):
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    qr = segno.make(device.config_url, error="m")
    return {
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        # A data: URI image: the CSP allows those for images, and nothing is inline script or style.
        "qr": qr.svg_data_uri(scale=5, dark="#000", light="#fff"),
    }


def _unconfirmed_totp(user):
    device = _totp_device(user, confirmed=False)
    return device or TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)


@sensitive_post_parameters("code")
@portal_login_required
def totp_enrol(request):
    device = _unconfirmed_totp(request.user)
    scope = f"user:{request.user.pk}"
    form = CodeForm(request.POST or None)
    context = {"form": form, **_totp_context(device)}
    if limits.blocked(scope):
        return _code_refused(request, "portal/totp_enrol.html", context)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            limits.clear(scope)
            TOTPDevice.objects.filter(user=request.user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            messages.success(request, _("Your authenticator app is set up. You will need a code at every login."))
            return redirect("portal:security")
        limits.failed(scope)
        form.add_error("code", _("That code is not right. Check the time on your phone and try the next code."))
    return render(request, "portal/totp_enrol.html", context)


def _invalid_link(request):
    return render(request, "portal/link_invalid.html", status=404)


@sensitive_post_parameters("new_password1", "new_password2")
def activate(request, token):
    account = accounts.account_for_token(token)
    if account is None:
        return _invalid_link(request)
    form = SetPasswordForm(account.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        accounts.choose_password(account, form.cleaned_data["new_password1"])
        request.session[ACTIVATING_KEY] = account.pk
        if accounts.phone_number(account.email):
            _send_code(request, account.user)
        return redirect("portal:activate-code", token=token)
    return render(request, "portal/activate.html", {"form": form, "email": account.email})


@sensitive_post_parameters("code")
def activate_code(request, token):
    account = accounts.account_for_token(token)
    if account is None:
        return _invalid_link(request)
    if request.session.get(ACTIVATING_KEY) != account.pk:
        return redirect("portal:activate", token=token)
    user = account.user
    by_sms = bool(accounts.phone_number(account.email))
    device = accounts.sms_device(user) if by_sms else _unconfirmed_totp(user)
    scope = f"user:{user.pk}"
    form = CodeForm(request.POST or None)
    context = {"form": form, "method": "sms" if by_sms else "totp", "email": account.email}
    if not by_sms:
        context.update(_totp_context(device))
    if limits.blocked(scope):
        return _code_refused(request, "portal/activate_code.html", context)
    if request.method == "POST" and "resend" in request.POST and by_sms:
        _send_code(request, user)
        return redirect("portal:activate-code", token=token)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            limits.clear(scope)
            if not by_sms:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            accounts.finish_activation(account)
            user.refresh_from_db()
            del request.session[ACTIVATING_KEY]
            login(request, user, backend=BACKEND)
            otp_login(request, device)
            messages.success(request, _("Your account is active."))
            return redirect("portal:home")
        limits.failed(scope)
        if limits.blocked(scope):
            return _code_refused(request, "portal/activate_code.html", context)
        form.add_error("code", _("That code is not right, or it has expired."))
    return render(request, "portal/activate_code.html", context)


def pickup_page(request, token):
    found = pickup.pickup_for_token(token)
    # The first browser to open the link holds the pickup; a replay elsewhere is refused.
    if found is None or not pickup.claim(request, found):
        return _invalid_link(request)
    return render(request, "portal/pickup.html", {"pickup": found})


def pickup_download(request, pk, form):
    if form not in PickupDownload.Form.values:
        raise Http404
    found = pickup.claimed_by_session(request, pk)
    if found is None:
        raise Http404
    data = pickup.download(request, found, form)
    suffix = "-legacy" if form == PickupDownload.Form.LEGACY else ""
    name = f"{found.mail_user.email.replace('@', '_at_')}{suffix}.p12"
    response = HttpResponse(data, content_type="application/x-pkcs12")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
