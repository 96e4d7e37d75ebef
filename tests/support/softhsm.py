"""A SoftHSM2 token for the tests, initialised in a temp folder once per
test process (the PKCS#11 library reads its configuration only once)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
LABEL = "lockpost-test"
PIN = "4711-test-pin"


@pytest.fixture(scope="session")
def softhsm_token():
    if not (shutil.which("softhsm2-util") and Path(LIBRARY).exists()):
        if os.environ.get("LOCKPOST_REQUIRE_SERVICES"):
            pytest.fail("SoftHSM2 is not installed (scripts/install-debian-packages installs softhsm2)")
        pytest.skip("SoftHSM2 is not installed")
    root = Path(tempfile.mkdtemp(prefix="softhsm-"))
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "so-" + PIN],
        check=True,
        capture_output=True,
    )
    yield {"library": LIBRARY, "label": LABEL, "pin": PIN}
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def hsm_settings(softhsm_token, settings):
    settings.LOCKPOST_PKCS11_LIBRARY = softhsm_token["library"]
    settings.LOCKPOST_PKCS11_TOKEN = softhsm_token["label"]
    settings.LOCKPOST_PKCS11_PIN = softhsm_token["pin"]
    return softhsm_token
