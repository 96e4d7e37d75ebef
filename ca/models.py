"""The certificate and key store. Trust is computed when a certificate is
used (ca.selection), never stored at import."""

from django.db import models
from django.utils import timezone

from gateway.models import Domain, MailUser


class Certificate(models.Model):
    class Source(models.TextChoices):
        IMPORTED = "imported", "imported"
        HARVESTED = "harvested", "harvested from mail"
        ISSUED = "issued", "issued by our CA"

    der = models.BinaryField()
    sha256 = models.CharField(max_length=64, unique=True)
    sha1 = models.CharField(max_length=40, db_index=True)
    subject = models.TextField()
    issuer = models.TextField()
    serial = models.CharField(max_length=64, db_index=True, help_text="Hexadecimal.")
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    key_usage = models.JSONField(default=list, blank=True)
    extended_key_usage = models.JSONField(default=list, blank=True)
    is_ca = models.BooleanField(default=False)
    key_algorithm = models.CharField(max_length=16)
    subject_key_identifier = models.CharField(max_length=128, blank=True, db_index=True)
    authority_key_identifier = models.CharField(max_length=128, blank=True)
    crl_urls = models.JSONField(default=list, blank=True)
    ocsp_urls = models.JSONField(default=list, blank=True)
    trust_anchor = models.BooleanField(default=False, db_index=True, help_text="A root we trust.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORTED)
    created_at = models.DateTimeField(default=timezone.now)
    # Explicit assignments: used before any certificate that merely names the address.
    users = models.ManyToManyField(MailUser, blank=True, related_name="certificates")
    domains = models.ManyToManyField(
        Domain, blank=True, related_name="certificates", help_text="Encrypt to the whole domain with this."
    )

    class Meta:
        ordering = ["subject"]

    def __str__(self):
        return f"{self.subject} ({self.sha256[:12]})"


class CertificateEmail(models.Model):
    """Every address a certificate names (SAN rfc822Name, subject emailAddress),
    lower-cased: the index selection searches."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=320, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["certificate", "email"], name="certificate_email_unique")]

    def __str__(self):
        return self.email


class PrivateKey(models.Model):
    """A private key: PKCS#8 encrypted under the master key, or a reference to
    a key inside a PKCS#11 token that never leaves it."""

    certificate = models.OneToOneField(Certificate, on_delete=models.CASCADE, related_name="private_key")
    encrypted_pkcs8 = models.BinaryField(null=True, blank=True)
    token_label = models.CharField(max_length=64, blank=True)
    token_key_id = models.CharField(max_length=128, blank=True, help_text="CKA_ID, hexadecimal.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        permissions = [("export_private_key", "Can export a private key as PKCS#12")]

    def __str__(self):
        where = f"token {self.token_label}" if self.token_label else "database (encrypted)"
        return f"key of {self.certificate} in {where}"


class TrustListEntry(models.Model):
    """Allow or block one certificate by thumbprint. Blocked always wins."""

    class Action(models.TextChoices):
        ALLOW = "allow", "allow"
        BLOCK = "block", "block"

    sha256 = models.CharField(max_length=64, unique=True)
    action = models.CharField(max_length=5, choices=Action.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "trust list entry"
        verbose_name_plural = "trust list"

    def __str__(self):
        return f"{self.action} {self.sha256[:16]}"


class RevocationList(models.Model):
    """A CRL as fetched (signature checked before it is stored)."""

    issuer = models.TextField(db_index=False)
    issuer_key_identifier = models.CharField(max_length=128, blank=True, db_index=True)
    url = models.CharField(max_length=2048, blank=True)
    der = models.BinaryField()
    this_update = models.DateTimeField()
    next_update = models.DateTimeField(null=True, blank=True)
    crl_number = models.CharField(max_length=64, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "CRL"

    def __str__(self):
        return f"CRL of {self.issuer} ({self.this_update:%Y-%m-%d})"


class OcspResponse(models.Model):
    """The last OCSP answer for a certificate that names a responder
    (signature checked before it is stored)."""

    class Status(models.TextChoices):
        GOOD = "good", "good"
        REVOKED = "revoked", "revoked"
        UNKNOWN = "unknown", "unknown"

    certificate = models.OneToOneField(Certificate, on_delete=models.CASCADE, related_name="ocsp")
    status = models.CharField(max_length=8, choices=Status.choices)
    revoked_at = models.DateTimeField(null=True, blank=True)
    this_update = models.DateTimeField()
    next_update = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    der = models.BinaryField()

    class Meta:
        verbose_name = "OCSP response"

    def __str__(self):
        return f"OCSP {self.status} for {self.certificate}"


class CertificateAuthority(models.Model):
    """Our own CA: a root, or an intermediate under one of ours."""

    name = models.CharField(max_length=128, unique=True)
    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="authority")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT)
    issues_users = models.BooleanField(default=True, help_text="Use this CA to issue user certificates.")
    validity_days = models.PositiveIntegerField(default=730)
    next_crl_number = models.PositiveBigIntegerField(default=1)
    # The CRL last signed, served until it is half-way to its next update or a
    # revocation makes it stale: signing per request would invite abuse.
    published_crl = models.BinaryField(null=True, blank=True)
    published_crl_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "certificate authority"
        verbose_name_plural = "certificate authorities"

    def __str__(self):
        return self.name


class Revocation(models.Model):
    """A certificate our CA revoked; the CRL we publish lists these."""

    authority = models.ForeignKey(CertificateAuthority, on_delete=models.CASCADE, related_name="revocations")
    certificate = models.OneToOneField(Certificate, on_delete=models.CASCADE, related_name="revocation")
    reason = models.CharField(max_length=32, default="unspecified")
    revoked_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.certificate} revoked ({self.reason})"
