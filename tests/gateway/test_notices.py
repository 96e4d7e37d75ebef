"""Notices Lockpost writes itself (password notices, DSNs, portal mail) run
the system pipeline: delivered as written, never wrapped in a PDF or S/MIME."""

import pytest

from gateway import spool, worker
from gateway.delivery import output_bytes
from gateway.models import Delivery, Domain
from gateway.policy import service

pytestmark = pytest.mark.django_db


def test_a_notice_to_a_pdf_recipient_is_delivered_plain():
    Domain.objects.create(name="partner.example")
    service.set_setting(service.Scope(domain=Domain.objects.get()), "pdf_enabled", True)
    service.set_setting(service.Scope(domain=Domain.objects.get()), "pdf_mode", "always")
    notice = spool.store_notice("ann@partner.example", "Your account", "Open this link to activate it.\n")
    assert notice.listener_profile == "system"
    worker.process(notice.pk)
    delivery = Delivery.objects.get(message=notice)
    content = output_bytes(delivery)
    assert b"Open this link to activate it." in content
    assert b"application/pdf" not in content
    assert b"Auto-Submitted: auto-generated" in content
    assert [t.stage for t in notice.trail.all()][:3] == ["classify", "settings", "group"]
