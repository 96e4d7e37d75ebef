"""Public CA endpoints: the CRL and the certificate of each of our CAs, where
the URLs in issued certificates point."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from .authority import current_crl
from .models import CertificateAuthority


@require_GET
def revocation_list(request, pk):
    authority = get_object_or_404(CertificateAuthority, pk=pk)
    return HttpResponse(current_crl(authority), content_type="application/pkix-crl")


@require_GET
def authority_certificate(request, pk):
    authority = get_object_or_404(CertificateAuthority, pk=pk)
    return HttpResponse(bytes(authority.certificate.der), content_type="application/pkix-cert")
