"""docker/: the compose file names every service with the environment
Lockpost reads, and the Postfix image is configured with the README's lines.

No Docker engine runs in the tests, so the images are not built here; what
can be checked without one is: the compose file's structure and references,
the Postfix snippets being the README's, and the Postfix image's configure
step producing a configuration Postfix itself reads back as intended."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.postfix import (
    DEFAULT_CONFIG_DIR,
    POSTCONF,
    POSTFIX,
    readme_snippets,
    registered_config_directory,
    skip_or_fail,
    unavailable_reason,
)

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


@pytest.fixture(scope="module")
def compose():
    # PyYAML resolves the `<<: *lockpost` merge keys as Compose does.
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_runs_postfix_lockpost_and_their_services(compose):
    services = compose["services"]
    assert {"postfix", "lockpost-lmtp", "worker", "web", "postgres", "redis", "migrate"} <= services.keys()
    assert services["lockpost-lmtp"]["command"] == ["python", "manage.py", "gateway", "--no-worker"]
    assert services["worker"]["command"][:5] == ["celery", "-A", "lockpost", "worker", "-B"]
    assert services["web"]["command"][:2] == ["uvicorn", "lockpost.asgi:application"]
    assert "25:25" in services["postfix"]["ports"]


@pytest.mark.parametrize("service", ["lockpost-lmtp", "worker", "web", "migrate"])
def test_every_lockpost_service_gets_the_same_configuration(compose, service):
    env = compose["services"][service]["environment"]
    assert env["LOCKPOST_LMTP"] == "0.0.0.0:10024"
    assert env["LOCKPOST_NEXT_HOP"] == "postfix:10026"
    assert env["DATABASE_URL"].startswith("postgres://lockpost:")
    assert env["DATABASE_URL"].endswith("@postgres:5432/lockpost")
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    # Secrets come from docker/.env, and compose refuses to start without them.
    for secret in ("LOCKPOST_SECRET_KEY", "LOCKPOST_MASTER_KEY"):
        assert env[secret].startswith("${" + secret + ":?"), secret
    assert compose["services"][service]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}


def test_compose_references_resolve(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for network in service.get("networks", []):
            assert network in compose["networks"], f"{name} joins unknown network {network}"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name} mounts unknown volume {volume}"
        build = service.get("build")
        if isinstance(build, str):
            assert (DOCKER / build / "Dockerfile").is_file()
        elif build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file()
    # Postfix lets Lockpost's network use its return listener; it must be the compose network.
    [subnet] = [block["subnet"] for block in compose["networks"]["mail"]["ipam"]["config"]]
    assert services["postfix"]["environment"]["LOCKPOST_NETWORK"] == subnet
    assert services["postfix"]["environment"]["LOCKPOST_LMTP_ADDRESS"] == "lockpost-lmtp:10024"


def test_every_secret_compose_asks_for_is_in_env_example(compose):
    text = (DOCKER / "compose.yaml").read_text()
    example = (DOCKER / "env.example").read_text()
    for name in ("LOCKPOST_SECRET_KEY", "LOCKPOST_MASTER_KEY", "POSTGRES_PASSWORD"):
        assert "${" + name + ":?" in text
        assert f"\n{name}=" in example


def test_postfix_image_uses_the_readme_lines_unchanged():
    snippets = readme_snippets()
    assert (DOCKER / "postfix" / "main.cf.lockpost").read_text() == snippets["main.cf"]
    assert (DOCKER / "postfix" / "master.cf.lockpost").read_text() == snippets["master.cf"]


def test_postfix_image_configuration_reads_back_as_intended(tmp_path):
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    (tmp_path / "lockpost").mkdir()
    shutil.copy(DEFAULT_CONFIG_DIR / "master.cf", tmp_path / "master.cf.package")
    for name in ("main.cf.lockpost", "master.cf.lockpost"):
        shutil.copy(DOCKER / "postfix" / name, tmp_path / "lockpost" / name)
    env = {
        "PATH": os.environ["PATH"],
        "MAIL_HOSTNAME": "mx.corp.example",
        "RELAY_DOMAINS": "corp.example,corp.test",
        "RELAY_TRANSPORT": "smtp:[store.corp.example]:25",
        "INTERNAL_NETWORKS": "10.1.0.0/16",
        "LOCKPOST_LMTP_ADDRESS": "lockpost-lmtp:10024",
        "LOCKPOST_NETWORK": "172.30.24.0/24",
    }
    subprocess.run(["sh", str(DOCKER / "postfix" / "configure.sh"), str(tmp_path)], env=env, check=True)

    def postconf(*args):
        result = subprocess.run([POSTCONF, "-c", str(tmp_path), *args], capture_output=True, text=True, check=True)
        assert "warning" not in result.stderr, result.stderr
        return result.stdout.strip()

    postconf("-n")  # warns of unknown or misspelt parameters
    postconf("-M")  # and of malformed master.cf entries
    assert postconf("-h", "content_filter") == "lmtp:inet:lockpost-lmtp:10024"
    assert postconf("-h", "receive_override_options") == "no_address_mappings"
    assert postconf("-h", "myhostname") == "mx.corp.example"
    assert postconf("-h", "mynetworks") == "127.0.0.0/8 10.1.0.0/16"
    assert postconf("-h", "relay_domains") == "corp.example corp.test"
    assert postconf("-h", "transport_maps") == (
        "inline:{ corp.example=smtp:[store.corp.example]:25 corp.test=smtp:[store.corp.example]:25 }"
    )
    # The return listener: on every interface inside the container, open
    # only to Lockpost's network, with no content filter.
    assert postconf("-M", "10026/inet").split()[:8] == ["10026", "inet", "n", "-", "n", "-", "10", "smtpd"]
    assert postconf("-P", "10026/inet/content_filter") == "10026/inet/content_filter ="
    assert postconf("-P", "10026/inet/mynetworks") == "10026/inet/mynetworks = 127.0.0.0/8,172.30.24.0/24"
    assert postconf("-h", "maillog_file") == "/dev/stdout"

    # And Postfix's own integrity check passes on it (run in a private queue,
    # since the image's queue and log live where the container has them).
    for setting in (
        f"queue_directory = {tmp_path}/queue",
        f"data_directory = {tmp_path}/data",
        f"maillog_file = {tmp_path}/maillog",
        f"maillog_file_prefixes = {tmp_path}",
    ):
        postconf("-e", setting)
    (tmp_path / "queue").mkdir()
    (tmp_path / "data").mkdir()
    shutil.chown(tmp_path / "data", "postfix", "postfix")
    with registered_config_directory(tmp_path):
        check = subprocess.run([POSTFIX, "-c", str(tmp_path), "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
