"""Within a batch (ca.remember) the keys held for a recipient, and whom a
key belongs to, are read once; outside one, every time."""

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ca.remember import remembering
from ca.store import add_certificate, add_private_key
from gateway.smime import encrypt_message
from gateway.smime.mime import Entity
from gateway.smime_keys import held_certificates, tied_to
from tests.smime import pki as smime_pki

pytestmark = pytest.mark.django_db

MESSAGE = b"From: eve@outside.test\r\nTo: bob@corp.test\r\nSubject: s\r\n\r\nHello.\r\n"


@pytest.fixture
def encrypted_to_bob():
    pki = smime_pki.build()
    key = smime_pki._rsa()
    cert = smime_pki._user("bob@corp.test", key, pki.intermediate.certificate, pki.intermediate.key)
    row, _ = add_certificate(cert.public_bytes(Encoding.DER))
    add_private_key(row, key)
    return row, Entity.parse(encrypt_message(MESSAGE, [cert])).decoded_body()


def test_a_batch_reads_the_keys_for_a_recipient_once(encrypted_to_bob):
    row, der = encrypted_to_bob
    with remembering():
        assert held_certificates(der) == [row]
        assert tied_to(row, "bob@corp.test")
        with CaptureQueriesContext(connection) as again:
            assert held_certificates(der) == [row]
            assert tied_to(row, "Bob@corp.test")
            assert not tied_to(row, "eve@corp.test")
    assert len(again) == 3  # only the new question (eve): its email, user and domain lookups


def test_outside_a_batch_the_store_is_read_every_time(encrypted_to_bob):
    row, der = encrypted_to_bob
    held_certificates(der)
    with CaptureQueriesContext(connection) as again:
        assert held_certificates(der) == [row]
    assert len(again) == 1
