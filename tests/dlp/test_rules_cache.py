"""DLP rules kept per process under the policy epoch: a rule changed,
disabled or added, an exemption granted or withdrawn, here, on another
connection or by another process, applies to the very next lookup and the
next message; with no change only the epoch is read."""

import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dlp.models import Exemption, QuarantinedMessage, Rule
from gateway import worker
from gateway.models import Domain, MailUser, Message
from gateway.policy import dlp_rules, epoch
from tests.support.gateway_process import REPO, database_url
from tests.support.spooled import mail_bytes, spooled_message
from tests.support.waiting import elsewhere

# Real commits: other connections and processes must see them.
pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "alice@corp.test"
CARD = "4111 1111 1111 1111"


@pytest.fixture(autouse=True)
def world(monkeypatch):
    monkeypatch.setattr("gateway.doorbell.ring", lambda *a: None)
    monkeypatch.setattr("gateway.doorbell.ring_delivery", lambda *a: None)
    corp = Domain.objects.create(name="corp.test", internal=True)
    Domain.objects.create(name="partner.test")
    Rule.objects.create(name="cards", kind="detector", detector="credit_card", action="quarantine")
    return corp


def other_process(code):
    """Python `code` in a Django process of its own, on the test database."""
    env = {**os.environ, "DATABASE_URL": database_url()}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def rules(address=SENDER):
    return {r.name: r.action for r in dlp_rules.rules_for(address).rules}


def send():
    data = mail_bytes(SENDER, to=["bob@partner.test"], subject="Order", body=f"Charge card {CARD}.\r\n")
    message = spooled_message(SENDER, ["bob@partner.test"], data=data)
    return worker.process(message.pk)


def test_repeated_lookups_read_the_epoch_and_nothing_else():
    Exemption.objects.create(rule_name="cards", domain=Domain.objects.get(name="partner.test"))
    first = dlp_rules.rules_for(SENDER), dlp_rules.rules_for("x@partner.test")
    now = epoch.current()

    with CaptureQueriesContext(connection) as queries:
        again = dlp_rules.rules_for(SENDER), dlp_rules.rules_for("x@partner.test")
        under_one_epoch = dlp_rules.rules_for(SENDER, now)

    assert again == first
    assert under_one_epoch == first[0]
    assert [q["sql"] for q in queries.captured_queries if "gateway_configepoch" not in q["sql"]] == []
    assert len(queries.captured_queries) == 2  # the two lookups without an epoch of their own


def test_a_caller_changing_its_result_does_not_change_the_next_one():
    mine = dlp_rules.rules_for(SENDER)
    mine.origin.clear()
    mine.exempted["cards"] = "tampered"

    again = dlp_rules.rules_for(SENDER)
    assert again.origin == {"cards": "gateway"}
    assert again.exempted == {}


def test_a_rule_changed_elsewhere_applies_at_once():
    assert rules() == {"cards": "quarantine"}

    def to_warn():
        rule = Rule.objects.get(name="cards")
        rule.action = "warn"
        rule.save()

    elsewhere(to_warn)
    assert rules() == {"cards": "warn"}


def test_a_rule_disabled_by_another_process_applies_at_once():
    assert rules() == {"cards": "quarantine"}

    other_process("from dlp.models import Rule; Rule.objects.filter(name='cards').update(enabled=False)")

    assert rules() == {}


def test_rules_added_in_bulk_and_deleted_apply_at_once(world):
    elsewhere(
        lambda: Rule.objects.bulk_create(
            [Rule(name="falcon", kind="keywords", keywords=["project falcon"], action="warn", domain=world)]
        )
    )
    assert rules() == {"cards": "quarantine", "falcon": "warn"}
    assert rules("x@partner.test") == {"cards": "quarantine"}

    elsewhere(lambda: Rule.objects.filter(name="falcon").delete())
    assert rules() == {"cards": "quarantine"}


def test_an_exemption_granted_and_withdrawn_elsewhere_applies_at_once():
    assert "cards" in rules()

    elsewhere(lambda: Exemption.objects.create(rule_name="cards", user=MailUser.objects.create(email=SENDER)))
    assert "cards" not in rules()
    assert dlp_rules.rules_for(SENDER).exempted == {"cards": f"user {SENDER}"}

    elsewhere(lambda: Exemption.objects.filter(rule_name="cards").delete())
    assert "cards" in rules()


def test_the_next_message_follows_a_rule_disabled_by_another_process():
    assert send() == Message.State.HELD
    assert QuarantinedMessage.objects.count() == 1

    other_process("from dlp.models import Rule; Rule.objects.filter(name='cards').update(enabled=False)")

    assert send() == Message.State.DELIVERING
    assert QuarantinedMessage.objects.count() == 1
