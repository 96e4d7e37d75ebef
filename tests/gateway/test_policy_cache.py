"""Settings kept per process under the policy epoch: a change, made here, on
another connection or by another process, applies to the very next lookup;
with no change, lookups ask the database for the epoch and nothing else."""

import os
import subprocess
import sys

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from gateway.handlers.classify import classify_recipients
from gateway.handlers.resolve_settings import resolve_settings
from gateway.models import ConfigEpoch, Domain, MailUser, Setting
from gateway.pipeline import Context, RecipientInfo
from gateway.policy import epoch, service, store
from gateway.policy.cache import EpochCache
from tests.support.gateway_process import REPO, database_url
from tests.support.waiting import elsewhere

# Real commits: other connections and processes must see them.
pytestmark = pytest.mark.django_db(transaction=True)

ALICE = "alice@corp.test"
BOB = "bob@partner.test"
CONFIG_TABLES = ("gateway_setting", "gateway_domain", "gateway_mailuser", "dlp_rule", "dlp_exemption")


@pytest.fixture(autouse=True)
def world():
    corp = Domain.objects.create(name="corp.test", internal=True)
    service.set_setting(service.Scope(domain=corp), "signing_mode", "never")
    return corp


def other_process(*args):
    """manage.py `args` in a process of its own, on the test database."""
    env = {**os.environ, "DATABASE_URL": database_url()}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def value(address, key):
    effective = store.effective_settings(address)[key]
    return effective.value, effective.origin


def config_queries(captured):
    return [q["sql"] for q in captured if any(table in q["sql"] for table in CONFIG_TABLES)]


def epoch_queries(captured):
    return [q["sql"] for q in captured if "gateway_configepoch" in q["sql"]]


# --- no change: no settings queries ---------------------------------------------


def test_repeated_lookups_read_the_epoch_and_nothing_else():
    service.set_setting(service.user_scope(ALICE), "pdf_enabled", True)
    first = (
        store.effective_settings(ALICE),
        store.is_internal_address(BOB),
        store.effective_domain_settings("corp.test"),
    )

    with CaptureQueriesContext(connection) as queries:
        again = (
            store.effective_settings(ALICE),
            store.is_internal_address(BOB),
            store.effective_domain_settings("corp.test"),
        )

    assert again == first
    assert config_queries(queries.captured_queries) == []
    assert len(epoch_queries(queries.captured_queries)) == len(queries.captured_queries) == 3


def test_a_message_reads_the_epoch_once_for_all_its_lookups():
    def run():
        ctx = Context(
            queue_id="Q", mail_from=ALICE, raw=b"", recipients=[RecipientInfo(BOB, 0), RecipientInfo(ALICE, 1)]
        )
        classify_recipients(ctx)
        resolve_settings(ctx)
        return ctx

    first = run()  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        second = run()

    assert [q["sql"] for q in queries.captured_queries] == epoch_queries(queries.captured_queries)
    assert len(queries.captured_queries) == 1
    assert [r.direction for r in second.recipients] == ["outgoing", "internal"]
    assert second.recipients[0].settings == first.recipients[0].settings
    assert second.recipients[0].settings["signing_mode"].value == "never"  # alice's, for the outgoing copy


def test_a_caller_changing_its_result_does_not_change_the_next_one():
    mine = store.effective_settings(ALICE)
    mine["signing_mode"] = "tampered"
    mine.clear()

    assert store.effective_settings(ALICE)["signing_mode"].value == "never"
    level = store.levels_for_domain("corp.test")[-1]
    with pytest.raises(TypeError):
        level.values["signing_mode"] = "tampered"


# --- changes apply to the very next lookup ------------------------------------------


def test_a_global_setting_changed_here_applies_at_once():
    assert value(BOB, "encryption_mode") == ("if_possible", "factory")
    service.set_setting(service.GLOBAL, "encryption_mode", "mandatory")
    assert value(BOB, "encryption_mode") == ("mandatory", "global")
    service.set_setting(service.GLOBAL, "encryption_mode", "never")
    assert value(BOB, "encryption_mode") == ("never", "global")


def test_a_domain_setting_changed_on_another_connection_applies_at_once(world):
    assert value(ALICE, "signing_mode") == ("never", "domain corp.test")

    elsewhere(lambda: service.set_setting(service.domain_scope("corp.test"), "signing_mode", "if_possible"))

    assert value(ALICE, "signing_mode") == ("if_possible", "domain corp.test")


def test_a_user_setting_set_and_deleted_elsewhere_applies_at_once():
    assert value(ALICE, "pdf_enabled")[1] != f"user {ALICE}"

    elsewhere(lambda: service.set_setting(service.user_scope(ALICE), "pdf_enabled", True))
    assert value(ALICE, "pdf_enabled") == (True, f"user {ALICE}")

    elsewhere(lambda: Setting.objects.filter(user__email=ALICE, key="pdf_enabled").delete())
    assert value(ALICE, "pdf_enabled")[1] != f"user {ALICE}"


def test_a_deleted_user_takes_its_settings_with_it():
    service.set_setting(service.user_scope(ALICE), "signing_mode", "always")
    assert value(ALICE, "signing_mode") == ("always", f"user {ALICE}")

    elsewhere(lambda: MailUser.objects.filter(email=ALICE).delete())

    assert value(ALICE, "signing_mode") == ("never", "domain corp.test")


def test_a_new_domain_added_elsewhere_applies_at_once():
    assert not store.is_internal_address(BOB)
    assert value(BOB, "locality") == ("external", "factory")

    elsewhere(lambda: Domain.objects.create(name="partner.test", internal=True))

    assert store.is_internal_address(BOB)
    assert value(BOB, "locality") == ("internal", "domain partner.test")


def test_a_setting_changed_by_another_process_applies_at_once():
    assert value(BOB, "pdf_reply_limit")[1] == "factory"

    other_process("settings", "set", "pdf_reply_limit", "7", "--global")

    assert value(BOB, "pdf_reply_limit") == (7, "global")


def test_a_domain_added_and_removed_by_another_process_applies_at_once():
    assert not store.is_internal_address(BOB)

    other_process("domains", "add", "partner.test", "--internal")
    assert store.is_internal_address(BOB)

    other_process("domains", "remove", "partner.test")
    assert not store.is_internal_address(BOB)


def test_a_message_sees_a_change_committed_after_the_one_before_it():
    def direction():
        ctx = Context(queue_id="Q", mail_from=ALICE, raw=b"", recipients=[RecipientInfo(BOB, 0)])
        classify_recipients(ctx)
        return ctx.recipients[0].direction

    assert direction() == "outgoing"
    elsewhere(lambda: Domain.objects.create(name="partner.test", internal=True))
    assert direction() == "internal"


# --- the epoch itself ------------------------------------------------------------------


def test_a_bare_user_moves_nothing_on_but_a_changed_one_does():
    before = epoch.current()
    MailUser.objects.create(email="new@corp.test")
    MailUser.objects.bulk_create([MailUser(email="spooled@corp.test")], ignore_conflicts=True)  # as the spool does
    assert epoch.current() == before

    user = MailUser.objects.get(email="new@corp.test")
    user.email = "renamed@corp.test"
    user.save()
    assert epoch.current() != before


def test_a_rolled_back_change_is_not_taken_for_a_later_one():
    """Inside a transaction the cache fills with what it sees; after a
    rollback the epoch's counter is back, and the next real change brings it
    to the same number again: the stamp tells the two apart."""
    with transaction.atomic():
        service.set_setting(service.GLOBAL, "encryption_mode", "never")
        assert value(BOB, "encryption_mode") == ("never", "global")
        rolled_back = epoch.current()
        transaction.set_rollback(True)

    elsewhere(lambda: service.set_setting(service.GLOBAL, "encryption_mode", "mandatory"))

    assert epoch.current()[0] == rolled_back[0]
    assert value(BOB, "encryption_mode") == ("mandatory", "global")


def test_the_epoch_row_is_made_on_first_bump_and_counts():
    ConfigEpoch.objects.all().delete()
    assert epoch.current() == (0, 0)
    epoch.bump()
    epoch.bump()
    assert epoch.current()[0] == 2


def test_epoch_cache_keeps_at_most_its_limit_and_forgets_a_replaced_epoch():
    cache = EpochCache(limit=2)
    loads = []

    def load(key):
        return lambda: loads.append(key) or key.upper()

    assert [cache.get(1, k, load(k)) for k in "abc"] == ["A", "B", "C"]
    assert cache.get(1, "c", load("c")) == "C"  # kept
    assert cache.get(1, "a", load("a")) == "A"  # the oldest went
    assert cache.get(2, "c", load("c")) == "C"  # a new epoch starts empty
    assert loads == ["a", "b", "c", "a", "c"]
