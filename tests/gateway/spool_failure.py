"""A real storage failure in the middle of spool.store: a database trigger
that refuses to insert certain recipients, after the Message and RawMessage
rows of the same transaction were written."""

import contextlib

from django.db import connection

FAILING_PREFIX = "explode"

CREATE = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION lockpost_test_explode() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'simulated storage failure'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER lockpost_test_explode BEFORE INSERT ON gateway_recipient FOR EACH ROW "
        f"WHEN (NEW.address LIKE '{FAILING_PREFIX}%') EXECUTE FUNCTION lockpost_test_explode()",
    ],
    "sqlite": [
        "CREATE TRIGGER lockpost_test_explode BEFORE INSERT ON gateway_recipient "
        f"WHEN NEW.address LIKE '{FAILING_PREFIX}%' "
        "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    ],
}
DROP = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS lockpost_test_explode ON gateway_recipient",
        "DROP FUNCTION IF EXISTS lockpost_test_explode()",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS lockpost_test_explode"],
}


@contextlib.contextmanager
def failing_recipients():
    """While active, storing a message for an address starting with
    "explode" fails inside the transaction. Needs a committed schema change,
    so use it with `transactional_db`."""
    with connection.cursor() as cursor:
        for statement in CREATE[connection.vendor]:
            cursor.execute(statement)
    try:
        yield FAILING_PREFIX
    finally:
        with connection.cursor() as cursor:
            for statement in DROP[connection.vendor]:
                cursor.execute(statement)
