"""How the settings connect to the database, read as a fresh process reads them."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings


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
