"""Storing small messages in one statement, on PostgreSQL.

Through the ORM the spool's transaction took five round trips for a message
(BEGIN, the Message INSERT, the COPY of its bytes, the Recipient INSERT,
COMMIT), and most mail is small enough that these round trips were most of
what storing it cost. Here one INSERT with data-modifying CTEs writes the
same rows for a batch of messages: Messages, RawMessages, Recipients, and
MailUsers for addresses first seen. A single statement is atomic by itself:
all of its rows or none, with no BEGIN and COMMIT around it. Each value is
what the ORM would have saved; the bytes are bound in binary.

Large messages keep the ORM path and its COPY (gateway.spool_raw), which
writes them in slices: bound here, they would cost a copy of their size.

Written by hand because the ORM cannot write rows of several tables that
refer to each other in one statement. Rows are matched to their Message by
queue_id, which the client makes and the database keeps unique."""

import functools

from django.db import connection
from django.utils import timezone

from gateway.models import MailUser, Message, RawMessage, Recipient

# Up to this size a message's bytes go into the statement.
LARGEST = 256 * 1024


def fits(checked):
    """Whether store can write these (message, recipients, bytes) triples."""
    return connection.vendor == "postgresql" and all(len(data) <= LARGEST for _, _, data in checked)


def store(checked, recipients, new_users):
    """Write the messages of `checked` (as gateway.spool._checked makes them),
    their `recipients` (unsaved Recipients) and a MailUser for each address of
    `new_users` not yet stored. Sets each Message's pk. Atomic; inside the
    caller's transaction if it has one."""
    messages = [message for message, _, _ in checked]
    params = [
        *_values(_fields(Message), messages),
        *[value for message, _, data in checked for value in (message.queue_id, data)],
        *[
            value
            for recipient, row in zip(recipients, _rows(_fields(Recipient), recipients), strict=True)
            for value in (recipient.message.queue_id, *row)
        ],
    ]
    if new_users:
        now = timezone.now()
        params += [value for email in new_users for value in (email, now)]
    with connection.cursor() as cursor:
        cursor.execute(_sql(len(messages), len(recipients), len(new_users)), params)
        ids = dict(cursor.fetchall())
    for message in messages:
        message.pk = ids[message.queue_id]
        message._state.adding = False
        message._state.db = connection.alias
    return messages


def _fields(model):
    # Every column but the id, and the Message a Recipient belongs to (taken from the INSERT).
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and not (model is Recipient and field.name == "message")
    ]


def _rows(fields, rows):
    """Each row's values, as the ORM saves them (defaults, auto_now included)."""
    return [[field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields] for row in rows]


def _values(fields, rows):
    return [value for row in _rows(fields, rows) for value in row]


# Scalars in VALUES rows, not one array a column: psycopg dumps arrays in
# Python, which cost more than the round trips saved. One text for each
# number of messages, recipients and new users: a few shapes, each prepared.
@functools.cache
def _sql(messages, recipients, users):
    quote = connection.ops.quote_name

    def names(fields):
        return ", ".join(quote(field.column) for field in fields)

    def rows(count, casts):
        return ", ".join([f"({', '.join(f'%s::{cast}' if cast else '%s' for cast in casts)})"] * count)

    message_fields, recipient_fields = _fields(Message), _fields(Recipient)
    queue_id = Message._meta.get_field("queue_id").db_type(connection)
    columns = [f"c{i}" for i in range(len(recipient_fields))]
    sql = (
        f"WITH m AS (INSERT INTO {quote(Message._meta.db_table)} ({names(message_fields)})"  # noqa: S608 - our names, values bound
        f" VALUES {rows(messages, [None] * len(message_fields))} RETURNING queue_id, id)"
        f", r AS (INSERT INTO {quote(RawMessage._meta.db_table)} (message_id, data)"
        f" SELECT m.id, v.data FROM (VALUES {rows(messages, [queue_id, 'bytea'])}) AS v(queue_id, data)"
        " JOIN m ON m.queue_id = v.queue_id)"
        f", t AS (INSERT INTO {quote(Recipient._meta.db_table)} (message_id, {names(recipient_fields)})"
        f" SELECT m.id, {', '.join(f'v.{c}' for c in columns)}"
        f" FROM (VALUES {rows(recipients, [queue_id, *[f.db_type(connection) for f in recipient_fields]])})"
        f" AS v(queue_id, {', '.join(columns)}) JOIN m ON m.queue_id = v.queue_id)"
    )
    if users:
        sql += (
            f", u AS (INSERT INTO {quote(MailUser._meta.db_table)} (email, created_at)"  # noqa: S608 - likewise
            f" VALUES {rows(users, [None, None])} ON CONFLICT DO NOTHING)"
        )
    return sql + " SELECT queue_id, id FROM m"  # noqa: S608 - likewise
