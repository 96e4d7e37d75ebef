"""Per-recipient PDF secrets, sealed at rest: a generated password kept for a
validity period, or the secret one-time passwords are derived from. Only
gateway.pdf_passwords reads and writes them (it seals and unseals)."""

from django.db import models


class PdfSecret(models.Model):
    class Kind(models.TextChoices):
        KEPT_PASSWORD = "kept-password", "generated password kept for a period"
        OTP_SECRET = "otp-secret", "one-time password secret"

    address = models.CharField(max_length=320)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # ca.sealing output under the master key; never the clear value.
    sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "gateway"
        constraints = [models.UniqueConstraint(fields=["address", "kind"], name="pdf_secret_one_per_kind")]

    def __str__(self):
        return f"{self.kind} for {self.address}"
