"""The gateway's own keys as codec identities: which of the keys we hold an
encrypted message is addressed to (optionally only those tied to one address
or its domain), and the sender's signing identity."""

from asn1crypto import cms
from cryptography import x509
from django.db.models import Q

from ca.keys import private_key_for
from ca.models import Certificate
from ca.remember import remembered
from ca.selection import signing_identity
from gateway.smime import Identity


def recipient_ids(der):
    """[(issuer DER or None, serial hex or None, subject key id hex or None)]
    of every recipient of EnvelopedData / AuthEnvelopedData. Raises on garbage."""
    info = cms.ContentInfo.load(der)
    ids = []
    for ri in info["content"]["recipient_infos"]:
        if ri.name == "ktri":
            ids.append(_rid(ri.chosen["rid"]))
        elif ri.name == "kari":
            for rek in ri.chosen["recipient_encrypted_keys"]:
                rid = rek["rid"]
                if rid.name == "issuer_and_serial_number":
                    ids.append(_issuer_serial(rid.chosen))
                else:
                    ids.append((None, None, rid.chosen["subject_key_identifier"].native.hex()))
    return ids


def _rid(rid):
    if rid.name == "issuer_and_serial_number":
        return _issuer_serial(rid.chosen)
    return None, None, rid.chosen.native.hex()


def _issuer_serial(ias):
    return ias["issuer"].dump(), format(ias["serial_number"].native, "x"), None


def held_certificates(der):
    """Stored certificates with a private key that the message is addressed to."""
    ids = recipient_ids(der)
    # A list of its own: the caller may filter it.
    return list(remembered(("held", tuple(ids)), lambda: _held_certificates(ids)))


def _held_certificates(ids):
    serials = {serial for _i, serial, _k in ids if serial}
    skis = {ski for _i, _s, ski in ids if ski}
    query = Q(serial__in=serials) | Q(subject_key_identifier__in=skis)
    found = []
    for cert in Certificate.objects.filter(query, private_key__isnull=False).select_related("private_key"):
        parsed = x509.load_der_x509_certificate(bytes(cert.der))
        issuer = parsed.issuer.public_bytes()
        if any((i == issuer and s == cert.serial) or (k and k == cert.subject_key_identifier) for i, s, k in ids):
            found.append(cert)
    return found


def tied_to(cert, address):
    """Whether a certificate belongs to this address or to its domain (strict mode)."""
    address = address.strip().lower()
    return remembered(("tied", cert.pk, address), lambda: _tied_to(cert, address))


def _tied_to(cert, address):
    domain = address.rpartition("@")[2]
    if cert.emails.filter(email=address).exists() or cert.users.filter(email=address).exists():
        return True
    return cert.domains.filter(name=domain).exists()


def identity_of(cert, chain=()):
    """A codec Identity for a stored certificate; the key never leaves this object."""
    return Identity(x509.load_der_x509_certificate(bytes(cert.der)), private_key_for(cert), tuple(chain))


def sender_identity(address, at=None):
    """(Identity or None, ca.selection.Selection) to sign as `address`; made
    once a batch (ca.remember), as the selection is judged once, when `at`
    is now."""
    if at is None:
        return remembered(("sender identity", address.strip().lower()), lambda: _sender_identity(address, None))
    return _sender_identity(address, at)


def _sender_identity(address, at):
    selection = signing_identity(address, at)
    if not selection.chosen:
        return None, selection
    cert = selection.chosen[0]
    verdict = next(v for v in selection.verdicts if v.certificate.pk == cert.pk)
    # The path runs leaf first to the anchor: send the intermediates along.
    chain = [c for c in verdict.path[1:] if c.issuer != c.subject]
    return identity_of(cert, chain), selection
