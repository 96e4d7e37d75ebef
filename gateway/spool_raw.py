"""Writing a message's raw bytes with as few copies as the driver allows.

Through the ORM a 50 MB message costs several times its size in memory:
Django's psycopg cursor binds on the client, so bytea goes out as a hex
literal inside the query text (two bytes per byte, built more than once), and
SQLite copies a bound blob twice before it reaches its pages. Here both get
the bytes in slices: PostgreSQL as a binary COPY of the one row, SQLite as an
empty blob of the right size that is then filled in. Same row, same
transaction, and no more memory than a slice on top of the message.

Reading back has the same trouble the other way round (through the ORM a
50 MB message costs about 300 MB on PostgreSQL, fetched as hex text):
`load_raw` fetches PostgreSQL's bytes in binary and SQLite's through blob I/O.
"""

import struct

from django.db import connection

from gateway.models import RawMessage

SLICE = 1024 * 1024
# PostgreSQL binary COPY: signature, flags, header extension length; then per
# row a field count and each field as length + bytes; -1 ends the stream.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)


def save_raws(pairs):
    """Insert a RawMessage row for each (message, data) pair, inside the
    caller's transaction (on PostgreSQL, all in one COPY)."""
    table = connection.ops.quote_name(RawMessage._meta.db_table)
    if connection.vendor == "postgresql":
        _save_postgresql(table, [(message.pk, data) for message, data in pairs])
        return
    for message, data in pairs:
        if connection.vendor == "sqlite":
            _save_sqlite(table, message.pk, data)
        else:
            RawMessage.objects.create(message=message, data=data)


def _save_postgresql(table, rows):
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} (message_id, data) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(COPY_HEADER)
        for message_id, data in rows:
            copy.write(struct.pack("!hiqi", 2, 8, message_id, len(data)))  # two fields: bigint, then bytea
            view = memoryview(data)
            for start in range(0, len(view), SLICE):
                copy.write(view[start : start + SLICE])
        copy.write(COPY_TRAILER)


def _save_sqlite(table, message_id, data):
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (message_id, data) VALUES (%s, zeroblob(%s))", [message_id, len(data)])  # noqa: S608
        rowid = cursor.lastrowid
    view = memoryview(data)
    with connection.connection.blobopen(RawMessage._meta.db_table, "data", rowid) as blob:
        for start in range(0, len(view), SLICE):
            blob.write(view[start : start + SLICE])


def load_raw(message_id):
    """The exact bytes received for a message (RawMessage.DoesNotExist if none)."""
    table = connection.ops.quote_name(RawMessage._meta.db_table)
    if connection.vendor == "postgresql":
        return _load_postgresql(table, message_id)
    if connection.vendor == "sqlite":
        return _load_sqlite(table, message_id)
    return bytes(RawMessage.objects.get(pk=message_id).data)


def _load_postgresql(table, message_id):
    import psycopg

    connection.ensure_connection()
    # Django's cursors bind on the client, and those cannot ask for binary results.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"SELECT data FROM {table} WHERE message_id = %s", [message_id], binary=True)  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        raise RawMessage.DoesNotExist(f"no raw bytes for message {message_id}")
    return row[0]


def _load_sqlite(table, message_id):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT rowid FROM {table} WHERE message_id = %s", [message_id])  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        raise RawMessage.DoesNotExist(f"no raw bytes for message {message_id}")
    with connection.connection.blobopen(RawMessage._meta.db_table, "data", row[0], readonly=True) as blob:
        return blob.read()
