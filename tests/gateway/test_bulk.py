"""update_each: rows with values of their own saved in one UPDATE."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway.bulk import update_each
from gateway.models import Delivery
from tests.support.delivery_rows import make_delivery

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_in_one_update_and_left_out_fields_are_kept():
    first, second, third = (make_delivery(["bob@example.net"]) for _ in range(3))
    Delivery.objects.filter(pk=third.pk).update(last_reply="kept", lease_until=timezone.now())
    later = timezone.now() + datetime.timedelta(minutes=5)

    with CaptureQueriesContext(connection) as queries:
        updated = update_each(
            Delivery.objects.all(),
            {
                first.pk: {"state": Delivery.State.DELIVERED, "last_reply": "one", "lease_until": None},
                second.pk: {"state": Delivery.State.DEFERRED, "last_reply": "two", "next_attempt_at": later},
                third.pk: {"state": Delivery.State.DELIVERED, "lease_until": None},
            },
        )

    assert updated == 3
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1
    rows = {d.pk: d for d in Delivery.objects.all()}
    assert [rows[d.pk].state for d in (first, second, third)] == ["delivered", "deferred", "delivered"]
    assert [rows[d.pk].last_reply for d in (first, second, third)] == ["one", "two", "kept"]
    assert rows[first.pk].lease_until is None
    assert rows[third.pk].lease_until is None
    assert rows[second.pk].next_attempt_at == later
    assert rows[first.pk].next_attempt_at == first.next_attempt_at


def test_nothing_to_save_is_no_statement():
    with CaptureQueriesContext(connection) as queries:
        assert update_each(Delivery.objects.all(), {}) == 0
    assert len(queries) == 0


def test_a_row_that_no_longer_meets_the_querysets_condition_is_left_alone():
    free, taken = make_delivery(["bob@example.net"]), make_delivery(["carol@example.net"])
    Delivery.objects.filter(pk=taken.pk).update(lease_until=timezone.now())

    updated = update_each(
        Delivery.objects.filter(lease_until__isnull=True),
        {free.pk: {"last_reply": "mine"}, taken.pk: {"last_reply": "mine"}},
    )

    assert updated == 1
    assert Delivery.objects.get(pk=free.pk).last_reply == "mine"
    assert Delivery.objects.get(pk=taken.pk).last_reply == ""
