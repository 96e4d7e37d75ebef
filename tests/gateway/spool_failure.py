"""Real storage failures in the middle of spool.store: database triggers
that refuse certain rows after other rows of the same statement or
transaction were written."""

import contextlib

from django.db import connection

FAILING_PREFIX = "explode"
DISK_FULL = "could not extend file: No space left on device"


@contextlib.contextmanager
def failing_inserts(table, when, error):
    """While active, inserting a row of `table` that meets `when` (SQL over
    NEW) fails with `error`. Needs a committed schema change, so use it with
    `transactional_db`."""
    name = f"lockpost_test_fail_{table}"
    if connection.vendor == "postgresql":
        create = [
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{error}'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}()",
        ]
        drop = [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
    else:
        raise_error = f"SELECT RAISE(ABORT, '{error}')"
        create = [f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {when} BEGIN {raise_error}; END"]
        drop = [f"DROP TRIGGER IF EXISTS {name}"]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)


@contextlib.contextmanager
def failing_recipients():
    """While active, storing a message for an address starting with
    "explode" fails, after its Message and RawMessage rows were written."""
    with failing_inserts("gateway_recipient", f"NEW.address LIKE '{FAILING_PREFIX}%'", "simulated storage failure"):
        yield FAILING_PREFIX


@contextlib.contextmanager
def full_disk():
    """While active, no message's bytes can be stored: the database says its disk is full."""
    with failing_inserts("gateway_rawmessage", "true", DISK_FULL):
        yield
