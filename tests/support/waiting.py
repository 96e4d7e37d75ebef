"""Waiting for what another process or thread does, in tests."""

import threading
import time

from django.db import connection


def wait_until(condition, timeout=30, what="condition"):
    """Return once `condition()` is true; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def elsewhere(change):
    """Run `change` on a database connection of its own (another thread), committed."""
    errors = []

    def run():
        try:
            change()
        except Exception as error:  # reported in the test's thread
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not errors, errors
