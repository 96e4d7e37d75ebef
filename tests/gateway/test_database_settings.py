"""How the settings connect to the database, read as a fresh process reads them."""

import hashlib
import json
import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg.adapt import PyFormat


def database_options(**environment):
    """DATABASES["default"]["OPTIONS"] as lockpost.settings makes it from `environment`."""
    env = {key: value for key, value in os.environ.items() if key != "LOCKPOST_DB_PREPARE_THRESHOLD"}
    env.update(environment)
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, lockpost.settings as s; print(json.dumps(s.DATABASES['default'].get('OPTIONS', {})))",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(shown.stdout)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(None, 5), ("2", 2), ("off", None)],
    ids=["default", "two", "off"],
)
def test_postgresql_binds_on_the_server_and_prepares_what_runs_again(threshold, expected):
    environment = {"DATABASE_URL": "postgres://lockpost@db.example/lockpost"}
    if threshold is not None:
        environment["LOCKPOST_DB_PREPARE_THRESHOLD"] = threshold
    options = database_options(**environment)
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == expected


def test_sqlite_has_no_such_options():
    options = database_options(DATABASE_URL="sqlite:////tmp/lockpost-settings-test.sqlite3")
    assert "server_side_binding" not in options


@pytest.mark.django_db
def test_on_postgresql_bytes_go_to_the_server_in_binary_beside_the_query():
    # Bound on the client, a bytea was a hex literal twice its size inside the query text.
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's binding")
    large = bytes(range(256)) * 4096
    with connection.cursor() as cursor:
        assert not isinstance(cursor.cursor, psycopg.ClientCursor)
        binary = connection.Database.Binary(large)
        assert cursor.cursor.adapters.get_dumper(type(binary), PyFormat.AUTO).format == psycopg.pq.Format.BINARY
        cursor.execute("SELECT length(%s), sha256(%s)", [binary, binary])
        assert cursor.fetchone() == (len(large), hashlib.sha256(large).digest())
