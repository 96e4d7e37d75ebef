"""Keys generated inside a PKCS#11 token (SoftHSM2) sign and decrypt S/MIME,
and cannot be taken out."""

import subprocess

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca import authority, selection
from ca.hsm import token
from ca.keys import private_key_for
from gateway import smime
from tests.support.softhsm import hsm_settings, softhsm_token  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

MESSAGE = b"From: hsm@example.com\r\nTo: bob@example.org\r\nSubject: from the token\r\n\r\nSigned inside the HSM.\r\n"


@pytest.fixture
def hsm_identity(hsm_settings):  # noqa: F811
    root = authority.create_root("HSM Test Root", key_type="p256")
    cert = authority.issue("hsm@example.com", "HSM User", key_type="rsa2048", in_token=True)
    return root, cert


def _x509(row):
    return x509.load_der_x509_certificate(bytes(row.der))


def test_token_key_signs_a_message_openssl_verifies(hsm_identity, tmp_path):
    root, cert = hsm_identity
    assert selection.signing_identity("hsm@example.com").chosen == [cert]
    identity = smime.Identity(_x509(cert), private_key_for(cert), (_x509(root.certificate),))
    signed = smime.sign_message(MESSAGE, identity)
    (tmp_path / "signed.eml").write_bytes(signed)
    (tmp_path / "root.pem").write_bytes(_x509(root.certificate).public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-in",
            str(tmp_path / "signed.eml"),
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-purpose",
            "any",
        ],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert b"Signed inside the HSM." in result.stdout


@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
def test_token_key_decrypts_what_openssl_encrypted(hsm_settings, tmp_path, key_type):  # noqa: F811
    authority.create_root("HSM Test Root", key_type="p256")
    cert = authority.issue("hsm@example.com", "HSM User", key_type=key_type, in_token=True)
    (tmp_path / "cert.pem").write_bytes(_x509(cert).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "plain.eml").write_bytes(MESSAGE)
    encrypted = subprocess.run(
        ["openssl", "cms", "-encrypt", "-aes-256-cbc", "-in", str(tmp_path / "plain.eml"), str(tmp_path / "cert.pem")],
        capture_output=True,
        check=True,
    ).stdout
    identity = smime.Identity(_x509(cert), private_key_for(cert))
    decrypted = smime.decrypt_message(encrypted, [identity])
    assert b"Signed inside the HSM." in decrypted.message


def test_the_private_key_cannot_be_exported(hsm_identity):
    _, cert = hsm_identity
    key_id = bytes.fromhex(cert.private_key.token_key_id)
    assert cert.private_key.encrypted_pkcs8 is None
    private = token().session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, id=key_id)
    assert private[pkcs11.Attribute.EXTRACTABLE] is False
    assert private[pkcs11.Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        private[pkcs11.Attribute.PRIVATE_EXPONENT]


@pytest.mark.parametrize("key_type", ["rsa2048", "p256"])
def test_a_ca_in_the_token_issues_and_publishes_a_crl_openssl_accepts(hsm_settings, tmp_path, key_type):  # noqa: F811
    root = authority.create_root("Token Root", key_type=key_type, in_token=True)
    assert root.certificate.private_key.token_label
    user = authority.issue("tess@example.com", key_type="p256")
    authority.revoke(user, "key_compromise")
    (tmp_path / "root.pem").write_bytes(_x509(root.certificate).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "user.pem").write_bytes(_x509(user).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.der").write_bytes(authority.current_crl(root))
    self_signed = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "root.pem")], capture_output=True
    )
    assert self_signed.returncode == 0, self_signed.stderr
    plain = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "user.pem")], capture_output=True
    )
    assert plain.returncode == 0, plain.stderr
    subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-out", str(tmp_path / "crl.pem")],
        check=True,
    )
    with_crl = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-CRLfile",
            str(tmp_path / "crl.pem"),
            str(tmp_path / "user.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert with_crl.returncode != 0
    assert "certificate revoked" in with_crl.stdout + with_crl.stderr
