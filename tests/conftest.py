import os

import pytest

# Tests never need a real secret; keep them from tripping the production check.
os.environ.setdefault("LOCKPOST_INSECURE_DEV_SECRET", "1")
os.environ.setdefault("LOCKPOST_MASTER_KEY", "test-master-key-not-for-production-0123456789")

# Fixtures shared by every suite: an SMTP sink, a running gateway process, a
# private Postfix instance.
pytest_plugins = ["tests.support.sink", "tests.support.gateway_process", "tests.support.postfix"]


@pytest.fixture(autouse=True)
def _fresh_trust_context():
    """Each test sees the trust data of its own database state."""
    from ca import trust

    trust.forget()
    yield
    trust.forget()


@pytest.fixture(autouse=True)
def _fresh_user_memory():
    """Each test's database starts without the users another test's mail made."""
    from gateway import spool

    spool.forget_users()
