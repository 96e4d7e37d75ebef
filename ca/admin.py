"""The admin for certificates: search, filter by state, the validation
result with its path, import, issue and revoke with our CA, trust lists and
CRLs. Private keys are never shown, only where they live."""

import datetime

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import authority, formats, store, trust
from .models import Certificate, CertificateAuthority, OcspResponse, Revocation, RevocationList, TrustListEntry
from .validation import Usage


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("valid", "within validity"),
            ("expired", "expired"),
            ("expiring", "expiring within 30 days"),
            ("revoked", "revoked by our CA"),
            ("blocked", "blocked"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        blocked = TrustListEntry.objects.filter(action="block").values("sha256")
        return {
            "valid": lambda: queryset.filter(not_before__lte=now, not_after__gt=now),
            "expired": lambda: queryset.filter(not_after__lte=now),
            "expiring": lambda: queryset.filter(not_after__gt=now, not_after__lte=now + datetime.timedelta(days=30)),
            "revoked": lambda: queryset.filter(revocation__isnull=False),
            "blocked": lambda: queryset.filter(sha256__in=blocked),
        }.get(self.value(), lambda: queryset)()


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class ImportForm(forms.Form):
    files = MultipleFileField(help_text="PEM, DER, P7B or PKCS#12; several at once.")
    password = forms.CharField(required=False, widget=forms.PasswordInput, help_text="For PKCS#12 files.")
    trust_anchor = forms.BooleanField(required=False, help_text="Trust the root certificates in these files.")


class IssueForm(forms.Form):
    email = forms.EmailField()
    common_name = forms.CharField(required=False)
    key_type = forms.ChoiceField(choices=[(k, k) for k in authority.KEY_TYPES])
    in_token = forms.BooleanField(required=False, help_text="Generate the key inside the PKCS#11 token.")


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ["subject", "shown_emails", "not_after", "source", "trust_anchor", "has_key"]
    list_filter = [StateFilter, "source", "trust_anchor", "is_ca", "key_algorithm"]
    search_fields = ["sha256", "sha1", "subject", "emails__email", "serial"]
    filter_horizontal = ["users", "domains"]
    actions = ["make_trust_anchor", "block", "revoke"]
    readonly_fields = [
        "subject",
        "issuer",
        "serial",
        "sha256",
        "sha1",
        "not_before",
        "not_after",
        "key_algorithm",
        "key_usage",
        "extended_key_usage",
        "is_ca",
        "crl_urls",
        "ocsp_urls",
        "source",
        "created_at",
        "key_location",
        "validation",
    ]
    fields = [*readonly_fields[:-2], "trust_anchor", "users", "domains", "key_location", "validation"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("der").prefetch_related("emails")

    @admin.display(description="addresses")
    def shown_emails(self, obj):
        return ", ".join(e.email for e in obj.emails.all())

    @admin.display(boolean=True, description="key")
    def has_key(self, obj):
        return hasattr(obj, "private_key")

    @admin.display(description="private key")
    def key_location(self, obj):
        key = getattr(obj, "private_key", None)
        if key is None:
            return "none"
        return f"in token {key.token_label}" if key.token_label else "in the database, encrypted under the master key"

    @admin.display(description="validation now")
    def validation(self, obj):
        context = trust.current()
        now = timezone.now()
        rows = []
        for usage in (Usage.ENCRYPT, Usage.SIGN):
            problem, path, warning = context.judge(obj, usage, now)
            verdict = problem or "valid; path: " + " → ".join(c.subject.rfc4514_string() for c in path)
            if warning:
                verdict += f" ({warning})"
            rows.append((usage.value, verdict))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", rows))

    def get_urls(self):
        extra = [
            path("import/", self.admin_site.admin_view(self.import_view), name="ca_certificate_import"),
            path("issue/", self.admin_site.admin_view(self.issue_view), name="ca_certificate_issue"),
        ]
        return extra + super().get_urls()

    def import_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            count = 0
            try:
                for upload in form.cleaned_data["files"]:
                    certs = store.import_bundle(formats.read_bundle(upload.read(), form.cleaned_data["password"]))
                    if form.cleaned_data["trust_anchor"]:
                        for cert in certs:
                            if cert.is_ca and cert.subject == cert.issuer:
                                store.add_certificate(bytes(cert.der), trust_anchor=True)
                    count += len(certs)
            except (formats.UnreadableFile, ValueError) as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Imported {count} certificate(s).")
                return redirect("admin:ca_certificate_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "title": "Import certificates"}
        return TemplateResponse(request, "admin/ca/form.html", context)

    def issue_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = IssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                cert = authority.issue(
                    form.cleaned_data["email"],
                    form.cleaned_data["common_name"],
                    form.cleaned_data["key_type"],
                    in_token=form.cleaned_data["in_token"],
                    issued_by=request.user,
                )
            except Exception as error:  # the CA or token says why; show it, do not 500
                form.add_error(None, str(error))
            else:
                self.message_user(request, " ".join([f"Issued {cert.subject}.", *cert.issue_notes]))
                return redirect(reverse("admin:ca_certificate_change", args=[cert.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Issue a certificate"}
        return TemplateResponse(request, "admin/ca/form.html", context)

    @admin.action(description="Trust as anchor (roots only)")
    def make_trust_anchor(self, request, queryset):
        updated = queryset.filter(is_ca=True).update(trust_anchor=True)
        trust.changed()
        self.message_user(request, f"{updated} certificate(s) are now trust anchors.")

    @admin.action(description="Block (trust list)")
    def block(self, request, queryset):
        for cert in queryset:
            TrustListEntry.objects.update_or_create(
                sha256=cert.sha256, defaults={"action": "block", "reason": f"blocked by {request.user}"}
            )
        self.message_user(request, f"Blocked {queryset.count()} certificate(s).")

    @admin.action(description="Revoke (certificates our CA issued)")
    def revoke(self, request, queryset):
        for cert in queryset:
            try:
                authority.revoke(cert, "unspecified")
            except ValueError as error:
                self.message_user(request, f"{cert.subject}: {error}", level=messages.ERROR)


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "issues_users", "validity_days", "created_at"]
    readonly_fields = ["certificate", "parent", "next_crl_number", "published_crl_at", "created_at"]
    exclude = ["published_crl"]

    def has_add_permission(self, request):
        return False  # created with `manage.py certificates create-ca` or the API: keys are made there


class FetchedOrRecorded(admin.ModelAdmin):
    """Rows Lockpost writes itself (fetched CRLs and OCSP answers, our CA's
    revocations): shown, never typed in."""

    def has_add_permission(self, request):
        return False


@admin.register(Revocation)
class RevocationAdmin(FetchedOrRecorded):
    list_display = ["certificate", "authority", "reason", "revoked_at"]
    readonly_fields = ["certificate", "authority", "reason", "revoked_at"]


@admin.register(RevocationList)
class RevocationListAdmin(FetchedOrRecorded):
    list_display = ["issuer", "url", "this_update", "next_update", "fetched_at", "last_error"]
    readonly_fields = ["issuer", "url", "this_update", "next_update", "crl_number", "fetched_at", "last_error"]
    exclude = ["der"]


@admin.register(TrustListEntry)
class TrustListEntryAdmin(admin.ModelAdmin):
    list_display = ["sha256", "action", "reason", "created_at"]
    list_filter = ["action"]
    search_fields = ["sha256", "reason"]


@admin.register(OcspResponse)
class OcspResponseAdmin(FetchedOrRecorded):
    list_display = ["certificate", "status", "this_update", "next_update", "fetched_at"]
    list_filter = ["status"]
    readonly_fields = ["certificate", "status", "revoked_at", "this_update", "next_update", "fetched_at"]
    exclude = ["der"]
