"""Trail entries written a batch at a time read back as they were noted."""

import pytest

from gateway import trail
from gateway.models import TrailEntry
from tests.support.spooled import spooled_message

pytestmark = pytest.mark.django_db


def test_entries_read_back_in_order_with_their_data():
    first, second = spooled_message(), spooled_message()
    trail.write(
        [
            trail.Entry(first.pk, "smime", "bob@partner.test: signed — ✓", {"cipher": "aes256_cbc", "count": 2}),
            trail.Entry(second.pk, "dlp", "clean: 3 rule(s) checked", {}),
            trail.Entry(first.pk, "worker", "pipeline done: 1 new output(s)", {"nested": {"tab": "a\tb\\c"}}),
        ]
    )

    entries = [(e.stage, e.text, e.data) for e in TrailEntry.objects.filter(message=first)]
    assert entries == [
        ("smime", "bob@partner.test: signed — ✓", {"cipher": "aes256_cbc", "count": 2}),
        ("worker", "pipeline done: 1 new output(s)", {"nested": {"tab": "a\tb\\c"}}),
    ]
    assert list(second.trail.values_list("text", flat=True)) == ["clean: 3 rule(s) checked"]


def test_nothing_to_write_writes_nothing():
    trail.write([])
    assert not TrailEntry.objects.exists()
