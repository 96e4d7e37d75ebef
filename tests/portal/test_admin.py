"""Admin pages for portal accounts and pickups."""

import pytest
from django.contrib.auth import get_user_model

from ca import authority
from portal import pickup
from portal.models import PickupDownload

from .conftest import with_phone

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@corp.example", "x")
    client.force_login(user)
    return client


@pytest.fixture
def offered(sms_dir):
    authority.create_root("Admin Test Root", key_type="p256")
    with_phone("bob@example.org")
    found = pickup.offer(authority.issue("bob@example.org", key_type="p256"))  # offered twice: the last one counts
    PickupDownload.objects.create(pickup=found, form="legacy", ip_address="192.0.2.7", user_agent="Thunderbird")
    return found


def test_pickups_listed_with_their_downloads(admin_client, offered):
    listing = admin_client.get("/admin/portal/pickup/")
    assert listing.status_code == 200
    assert "bob@example.org" in listing.content.decode()
    detail = admin_client.get(f"/admin/portal/pickup/{offered.pk}/change/").content.decode()
    assert "192.0.2.7" in detail
    assert "legacy (3DES)" in detail


def test_withdrawn_pickup_link_stops_working(admin_client, offered, client):
    token = pickup.pickup_token(offered)
    admin_client.post("/admin/portal/pickup/", {"action": "withdraw", "_selected_action": [offered.pk]})
    offered.refresh_from_db()
    assert offered.withdrawn
    admin_client.logout()
    assert client.get(f"/portal/pickup/{token}/").status_code == 404


def test_accounts_listed(admin_client, sms_dir):
    from portal import accounts

    accounts.invite("carol@example.org", reason="secure reply")
    page = admin_client.get("/admin/portal/externalaccount/").content.decode()
    assert "carol@example.org" in page
    assert "secure reply" in page
