"""On PostgreSQL the message bytes are compressed with lz4 (cheaper than
pglz for every message written and read back), and read back exactly."""

import pytest
from django.db import connection

from gateway.spool_raw import load_raw
from tests.support.spooled import mail_bytes, spooled_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("column compression is PostgreSQL's")


def test_raw_messages_and_outputs_are_compressed_with_lz4(postgresql):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attrelid::regclass::text, attcompression FROM pg_attribute "
            "WHERE (attrelid, attname) IN "
            "(('gateway_rawmessage'::regclass, 'data'), ('gateway_delivery'::regclass, 'content'))"
        )
        assert dict(cursor.fetchall()) == {"gateway_rawmessage": "l", "gateway_delivery": "l"}


def test_a_large_compressible_message_reads_back_byte_for_byte(postgresql):
    data = mail_bytes(body="The quarterly figures, again and again.\r\n" * 5000)
    message = spooled_message(data=data)
    assert load_raw(message.pk) == data
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(data), pg_column_size(data) FROM gateway_rawmessage WHERE message_id = %s",
            [message.pk],
        )
        method, stored_size = cursor.fetchone()
    assert method == "lz4"
    assert stored_size < len(data) / 4
