"""Writing trail entries: every message gets about ten, so they are written
a batch at a time, on PostgreSQL by COPY.

Written by hand: bulk_create builds a model instance and prepares each
field of every row, which cost a busy gateway more CPU than any other write
of a message."""

import json
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from gateway.models import TrailEntry


class Entry(NamedTuple):
    message_id: int
    stage: str
    text: str
    data: dict


def write(entries):
    """Insert the entries, in order (their ids keep it), inside the caller's
    transaction. `data` must be plain JSON (see gateway.worker._plain)."""
    entries = list(entries)
    if not entries:
        return
    at = timezone.now()
    if connection.vendor != "postgresql":
        TrailEntry.objects.bulk_create(
            TrailEntry(message_id=e.message_id, at=at, stage=e.stage, text=e.text, data=e.data) for e in entries
        )
        return
    table = connection.ops.quote_name(TrailEntry._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} (message_id, at, stage, text, data) FROM STDIN") as copy,
    ):
        for e in entries:
            copy.write_row((e.message_id, at, e.stage, e.text, json.dumps(e.data)))
