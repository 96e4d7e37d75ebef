import pytest

from ca import store
from tests.support import pki


@pytest.fixture
def root():
    """A root (from the test factory) the store trusts as an anchor."""
    issued = pki.make("Root", ca=True, slot=1)
    store.add_certificate(issued.der, trust_anchor=True)
    return issued
