"""Keys inside a PKCS#11 token (an HSM, or SoftHSM2 in tests). They are made
inside the token, marked sensitive and not extractable, and never leave it:
signing, RSA decryption and ECDH happen in the token. The key objects here
speak the same small protocol as pyca/cryptography's private keys, so the
S/MIME codec uses them without knowing where the key lives."""

import threading

import pkcs11
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.conf import settings
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

_HASHED_RSA = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_HASHED_PSS = {
    "sha256": (Mechanism.SHA256_RSA_PKCS_PSS, Mechanism.SHA256, pkcs11.MGF.SHA256, 32),
    "sha384": (Mechanism.SHA384_RSA_PKCS_PSS, Mechanism.SHA384, pkcs11.MGF.SHA384, 48),
    "sha512": (Mechanism.SHA512_RSA_PKCS_PSS, Mechanism.SHA512, pkcs11.MGF.SHA512, 64),
}

PRIVATE_TEMPLATE = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.TOKEN: True}


class HsmError(Exception):
    """The token is not configured, not found, or refused an operation."""


_tokens = {}
_tokens_lock = threading.Lock()


def token():
    """The configured token, opened once per process."""
    key = (settings.LOCKPOST_PKCS11_LIBRARY, settings.LOCKPOST_PKCS11_TOKEN)
    with _tokens_lock:
        if key not in _tokens:
            _tokens[key] = Token()
        return _tokens[key]


class Token:
    """One logged-in session to the configured token, shared by threads under a lock."""

    def __init__(self, library=None, label=None, pin=None):
        self.library = library or settings.LOCKPOST_PKCS11_LIBRARY
        self.label = label or settings.LOCKPOST_PKCS11_TOKEN
        self.pin = pin or settings.LOCKPOST_PKCS11_PIN
        if not (self.library and self.label):
            raise HsmError("no PKCS#11 token configured (LOCKPOST_PKCS11_LIBRARY, LOCKPOST_PKCS11_TOKEN)")
        self.lock = threading.RLock()
        try:
            token = pkcs11.lib(self.library).get_token(token_label=self.label)
            self.session = token.open(user_pin=self.pin, rw=True)
        except (pkcs11.PKCS11Error, RuntimeError) as exc:
            raise HsmError(f"cannot open token {self.label!r}: {type(exc).__name__}") from None

    def close(self):
        self.session.close()

    def generate(self, key_type, key_id, label=""):
        """Make a key pair inside the token. Returns the public key (cryptography)."""
        with self.lock:
            if key_type in ("rsa2048", "rsa3072"):
                public, _ = self.session.generate_keypair(
                    KeyType.RSA,
                    int(key_type[3:]),
                    id=key_id,
                    label=label,
                    store=True,
                    private_template=PRIVATE_TEMPLATE,
                )
            elif key_type == "p256":
                params = self.session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                )
                public, _ = params.generate_keypair(
                    store=True, id=key_id, label=label, private_template=PRIVATE_TEMPLATE
                )
            else:
                raise HsmError(f"unsupported key type {key_type!r}")
            return _public_key(public)

    def key(self, key_id):
        """The private key with CKA_ID `key_id`, as an object the codec can use."""
        with self.lock:
            private = self.session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
            public = self.session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
            public_key = _public_key(public)
        cls = HsmRsaKey if isinstance(public_key, rsa.RSAPublicKey) else HsmEcKey
        return cls(self, private, public_key)


def _public_key(obj):
    if obj.key_type == KeyType.RSA:
        n = int.from_bytes(obj[Attribute.MODULUS], "big")
        e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    return serialization.load_der_public_key(encode_ec_public_key(obj))


class _HsmKey:
    def __init__(self, token, private, public_key):
        self._token = token
        self._private = private
        self._public_key = public_key

    def public_key(self):
        return self._public_key

    @property
    def key_size(self):
        return self._public_key.key_size


class HsmRsaKey(_HsmKey):
    def sign(self, data, pad, algorithm):
        name = algorithm.name
        with self._token.lock:
            if isinstance(pad, padding.PSS):
                mechanism, hash_mech, mgf, salt = _HASHED_PSS[name]
                return self._private.sign(data, mechanism=mechanism, mechanism_param=(hash_mech, mgf, salt))
            return self._private.sign(data, mechanism=_HASHED_RSA[name])

    def decrypt(self, ciphertext, pad):
        with self._token.lock:
            if isinstance(pad, padding.OAEP):
                # SoftHSM 2.6 does OAEP with SHA-1 only; a real HSM may do more.
                hash_mech = {"sha1": Mechanism.SHA_1, "sha256": Mechanism.SHA256}[pad.algorithm.name]
                mgf = {"sha1": pkcs11.MGF.SHA1, "sha256": pkcs11.MGF.SHA256}[pad.algorithm.name]
                return self._private.decrypt(
                    ciphertext, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(hash_mech, mgf, None)
                )
            return self._private.decrypt(ciphertext, mechanism=Mechanism.RSA_PKCS)


class HsmEcKey(_HsmKey):
    def sign(self, data, signature_algorithm):
        # Hash here, sign the digest in the token: SoftHSM (and many HSMs) do
        # plain CKM_ECDSA only, not the combined hash-and-sign mechanisms.
        digest = hashes.Hash(signature_algorithm.algorithm)
        digest.update(data)
        with self._token.lock:
            raw = self._private.sign(digest.finalize(), mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm, peer_public_key):
        point = peer_public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        with self._token.lock:
            # The shared secret must come out to feed the KDF; the private key does not.
            secret = self._private.derive_key(
                KeyType.GENERIC_SECRET,
                self._public_key.curve.key_size,
                mechanism_param=(pkcs11.KDF.NULL, None, point),
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True, Attribute.TOKEN: False},
            )
            return secret[Attribute.VALUE]


# --- signing certificates and CRLs with a token key ------------------------
# cryptography's builders sign only with its own key objects. So the builder
# signs with a stand-in key of the same kind (giving the same signature
# algorithm fields), and the token then signs the to-be-signed bytes; its
# signature replaces the stand-in's. No good library does this for us.

_stand_ins = {}


def _stand_in(public_key):
    kind = ("rsa", public_key.key_size) if isinstance(public_key, rsa.RSAPublicKey) else ("ec", public_key.curve.name)
    if kind not in _stand_ins:
        if kind[0] == "rsa":
            _stand_ins[kind] = rsa.generate_private_key(public_exponent=65537, key_size=kind[1])
        else:
            _stand_ins[kind] = ec.generate_private_key(public_key.curve)
    return _stand_ins[kind]


def _token_signature(key, data):
    if isinstance(key.public_key(), rsa.RSAPublicKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def sign_certificate(builder, key):
    """A certificate from `builder`, signed (SHA-256) by a key in the token."""
    draft = builder.sign(_stand_in(key.public_key()), hashes.SHA256())
    parsed = asn1_x509.Certificate.load(draft.public_bytes(serialization.Encoding.DER))
    parsed["signature_value"] = _token_signature(key, draft.tbs_certificate_bytes)
    return x509.load_der_x509_certificate(parsed.dump(force=True))


def sign_crl(builder, key):
    """A CRL from `builder`, signed (SHA-256) by a key in the token."""
    draft = builder.sign(_stand_in(key.public_key()), hashes.SHA256())
    parsed = asn1_crl.CertificateList.load(draft.public_bytes(serialization.Encoding.DER))
    parsed["signature"] = _token_signature(key, draft.tbs_certlist_bytes)
    return x509.load_der_x509_crl(parsed.dump(force=True))
