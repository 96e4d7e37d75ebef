"""Quarantine self-service: DLP managers see their domains' held mail,
senders their own when their settings allow (dlp.services.may_act, the same
rule as the API). Each page and action is recorded in the event log by
dlp.services. A message someone may not act on is not found (404), so its
existence does not leak."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dlp import services
from dlp.downloads import original_response
from dlp.models import QuarantinedMessage
from portal.auth import portal_login_required

Status = QuarantinedMessage.Status


def _mine(request, pk):
    row = get_object_or_404(QuarantinedMessage.objects.select_related("message"), pk=pk)
    if not services.may_act(request.user, row):
        raise Http404
    return row


def _rows(request):
    wanted = request.GET.get("status", Status.HELD)
    rows = QuarantinedMessage.objects.select_related("message")
    if wanted in Status.values:
        rows = rows.filter(status=wanted)
    return services.visible_to(request.user, rows), wanted


@portal_login_required
def listing(request):
    rows, wanted = _rows(request)
    context = {"rows": rows, "status": wanted, "statuses": Status.choices}
    # The live page (portal/static/portal/live.js) fetches the list part alone.
    template = "portal/quarantine_rows.html" if request.GET.get("part") == "rows" else "portal/quarantine_list.html"
    return render(request, template, context)


@portal_login_required
def detail(request, pk):
    row = _mine(request, pk)
    services.viewed(row, services.who(request.user))
    return render(request, "portal/quarantine_detail.html", {"row": row, "events": row.events.all()})


def _decide(request, pk, action, done):
    row = _mine(request, pk)
    try:
        action(row, services.who(request.user))
    except services.NotHeld:
        row.refresh_from_db(fields=["status"])
        status = row.get_status_display()
        messages.error(request, _("Nothing was done: the message was already %(status)s.") % {"status": status})
        return redirect("site:quarantine-detail", pk=row.pk)
    messages.success(request, done)
    return redirect("site:quarantine")


@require_POST
@portal_login_required
def release(request, pk):
    return _decide(request, pk, services.release, _("The message was released and goes on its way."))


@require_POST
@portal_login_required
def delete(request, pk):
    return _decide(request, pk, services.delete, _("The message was deleted; it will not be sent."))


@portal_login_required
def download(request, pk):
    return original_response(_mine(request, pk), request.user)
