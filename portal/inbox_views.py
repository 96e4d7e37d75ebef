"""The secure inbox pages: the list, one message (its body in a sandboxed
frame with a CSP of its own), attachments, replying and writing to those
who wrote, and, for internal senders, revoking what they sent. A message
of someone else is not found (404)."""

import logging

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from portal import compose, services
from portal.api.views import download_response
from portal.auth import is_external, portal_login_required
from portal.forms import ComposeForm, ReplyForm
from portal.models import InboxMessage

log = logging.getLogger(__name__)

# The message frame: nothing runs, nothing loads but embedded images, and
# only our own page may frame it. The iframe's sandbox="" adds an opaque origin.
BODY_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src 'none'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)
# Lazy: translated when shown, in the language of the request.
TOO_MANY = gettext_lazy("You have sent too many messages. Please wait a while and try again.")


def _own(request, pk):
    return get_object_or_404(services.inbox_of(request.user), pk=pk)


def _reader(request):
    return request.user.email or request.user.username


@portal_login_required
def inbox(request):
    items = services.inbox_of(request.user)
    template = "portal/inbox_rows.html" if request.GET.get("part") == "rows" else "portal/inbox.html"
    return render(request, template, {"items": items, "senders": services.senders_of(request.user)})


@portal_login_required
def message(request, pk):
    item = _own(request, pk)
    opened = services.open_message(item)
    services.mark_read(item, _reader(request))
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.reply(request.user, item, form.cleaned_data["text"], form.attachment_pairs())
        except compose.TooManyReplies:
            form.add_error(None, TOO_MANY)
        else:
            messages.success(request, _("Your reply to %(sender)s is on its way.") % {"sender": item.sender})
            return redirect("portal:inbox")
    return render(request, "portal/inbox_message.html", {"item": item, "opened": opened, "form": form})


@xframe_options_sameorigin
@portal_login_required
def body(request, pk):
    item = _own(request, pk)
    opened = services.open_message(item)
    html = render_to_string("portal/inbox_body.html", {"opened": opened})
    response = HttpResponse(html)
    response["Content-Security-Policy"] = BODY_CSP
    response["Cache-Control"] = "no-store"
    return response


@portal_login_required
def attachment(request, pk, index):
    try:
        name, data = services.attachment(_own(request, pk), index)
    except IndexError:
        raise Http404 from None
    return download_response(name, data)


@portal_login_required
def write(request):
    senders = services.senders_of(request.user)
    if not senders:
        raise Http404
    form = ComposeForm(
        request.POST or None, request.FILES or None, senders=senders, initial={"to": request.GET.get("to")}
    )
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            services.write(request.user, values["to"], values["subject"], values["text"], form.attachment_pairs())
        except compose.TooManyReplies:
            form.add_error(None, TOO_MANY)
        else:
            messages.success(request, _("Your message to %(to)s is on its way.") % {"to": values["to"]})
            return redirect("portal:inbox")
    return render(request, "portal/inbox_write.html", {"form": form})


def _sent_by(user):
    rows = InboxMessage.objects.select_related("recipient")
    return rows if user.is_staff else rows.filter(sender=(user.email or "").lower())


@portal_login_required
def sent(request):
    if is_external(request.user):
        raise Http404
    return render(request, "portal/inbox_sent.html", {"items": _sent_by(request.user)[:200]})


@require_POST
@portal_login_required
def revoke(request, pk):
    item = get_object_or_404(InboxMessage, pk=pk)
    if not services.may_revoke(request.user, item):
        raise Http404
    services.revoke(item, _reader(request))
    messages.success(request, _("The message was revoked; its recipient can no longer read it."))
    return redirect("portal:inbox-sent")
