"""The admin: messages in the spool (read-only, with their recipients,
outputs and trail; requeue; raw download for those allowed), domains and
users with their own settings and every effective value with its origin,
and settings at any level."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from gateway.models import Delivery, Domain, MailUser, Message, Recipient, Setting, TrailEntry
from gateway.policy import service
from gateway.policy.definitions import DEFINITIONS
from gateway.policy.forms import AnyLevelSettingForm, SettingForm, SettingFormSet
from gateway.raw_download import can_download_raw, raw_response

# --- messages ---------------------------------------------------------------


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecipientInline(ReadOnlyInline):
    model = Recipient
    fields = ["position", "address", "direction", "bcc", "state", "reply", "delivery", "dsn_sent"]
    readonly_fields = fields


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ["group_key", "treatment", "state", "attempts", "next_attempt_at", "last_reply", "finished_at"]
    readonly_fields = fields


class TrailInline(ReadOnlyInline):
    model = TrailEntry
    fields = ["at", "stage", "text", "data"]
    readonly_fields = fields


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["queue_id", "mail_from", "subject", "state", "received_at", "shown_size"]
    list_filter = ["state", "received_at"]
    search_fields = ["queue_id", "mta_queue_id", "mail_from", "subject", "recipients__address"]
    date_hierarchy = "received_at"
    inlines = [RecipientInline, DeliveryInline, TrailInline]
    actions = ["requeue"]
    fieldsets = [
        ("Envelope", {"fields": ["queue_id", "mail_from", "client_address", "client_helo", "mta_queue_id"]}),
        ("Content", {"fields": ["received_at", "subject", "shown_size", "sha256", "raw_download"]}),
        ("Processing", {"fields": ["state", "process_attempts", "rung_at", "lease_until", "updated_at"]}),
    ]

    def has_add_permission(self, request):
        return False  # messages arrive over LMTP only

    def has_change_permission(self, request, obj=None):
        return False  # the spool is a record; the detail page is read-only

    def has_requeue_permission(self, request):
        return request.user.has_perm("gateway.change_message")

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def get_fieldsets(self, request, obj=None):
        if can_download_raw(request.user):
            return self.fieldsets
        # Not even a link for those who may not read the bytes.
        return [
            (name, {"fields": [f for f in options["fields"] if f != "raw_download"]})
            for name, options in self.fieldsets
        ]

    @admin.display(description="size", ordering="size")
    def shown_size(self, obj):
        return filesizeformat(obj.size)

    @admin.display(description="raw message")
    def raw_download(self, obj):
        url = reverse("admin:gateway_message_raw", args=[obj.pk])
        return format_html('<a href="{}">download {}.eml</a>', url, obj.queue_id)

    @admin.action(description="Requeue selected messages (process them again)", permissions=["requeue"])
    def requeue(self, request, queryset):
        from gateway.worker import requeue  # the worker loads the pipeline; only needed here

        for message in queryset.only("pk", "queue_id"):
            outcome = requeue(message.pk, by=request.user.get_username())
            self.message_user(request, f"{message.queue_id}: {outcome}", messages.SUCCESS)

    def get_urls(self):
        raw = path(
            "<int:object_id>/raw/",
            self.admin_site.admin_view(self.raw_view),
            name="gateway_message_raw",
        )
        requeue_one = path(
            "<int:object_id>/requeue/",
            self.admin_site.admin_view(require_POST(self.requeue_view)),
            name="gateway_message_requeue",
        )
        return [raw, requeue_one, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_requeue": self.has_requeue_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def requeue_view(self, request, object_id):
        """The requeue button on a message's page."""
        if not self.has_requeue_permission(request):
            raise PermissionDenied
        self.requeue(request, Message.objects.filter(pk=object_id))
        return redirect("admin:gateway_message_change", object_id)

    def raw_view(self, request, object_id):
        if not can_download_raw(request.user):
            raise PermissionDenied
        return raw_response(get_object_or_404(Message, pk=object_id))


# --- domains, users, settings --------------------------------------------------


def effective_table(scope):
    """Every setting's effective value at this level and where it comes from."""
    return render_effective(service.effective_for(scope), here=scope.label)


def render_effective(effective, here=""):
    rows = [
        {
            "key": key,
            "value": service.format_value(service.shown_value(key, value.value)),
            "origin": value.origin,
            "here": value.origin == here,
            "help": DEFINITIONS[key].help,
        }
        for key, value in sorted(effective.items())
    ]
    return render_to_string("gateway/admin/effective_settings.html", {"rows": rows})


class DomainSettingInline(admin.TabularInline):
    model = Setting
    fk_name = "domain"
    form = SettingForm
    formset = SettingFormSet
    extra = 1
    verbose_name = "own setting"
    verbose_name_plural = "own settings (everything else inherits)"


class UserSettingInline(DomainSettingInline):
    fk_name = "user"


class DomainForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = ["name", "internal"]
        help_texts = {"name": "example.com, or *.example.com for every subdomain of example.com."}

    def clean_name(self):
        try:
            return service.clean_domain_name(self.cleaned_data["name"])
        except service.SettingError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    form = DomainForm
    list_display = ["name", "internal", "created_at"]
    list_filter = ["internal"]
    search_fields = ["name"]
    inlines = [DomainSettingInline]
    readonly_fields = ["effective_settings"]

    def get_fields(self, request, obj=None):
        return ["name", "internal", "effective_settings"] if obj else ["name", "internal"]

    @admin.display(description="effective settings")
    def effective_settings(self, obj):
        return effective_table(service.Scope(domain=obj))


class MailUserForm(forms.ModelForm):
    class Meta:
        model = MailUser
        fields = ["email"]

    def clean_email(self):
        try:
            return service.clean_address(self.cleaned_data["email"])
        except service.SettingError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(MailUser)
class MailUserAdmin(admin.ModelAdmin):
    form = MailUserForm
    list_display = ["email", "created_at"]
    search_fields = ["email"]
    inlines = [UserSettingInline]
    readonly_fields = ["created_at", "effective_settings"]

    def get_fields(self, request, obj=None):
        return ["email", "created_at", "effective_settings"] if obj else ["email"]

    @admin.display(description="effective settings")
    def effective_settings(self, obj):
        return effective_table(service.Scope(user=obj))


class LevelFilter(admin.SimpleListFilter):
    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("global", "global"), ("domain", "domain"), ("user", "user")]

    def queryset(self, request, queryset):
        if self.value() == "global":
            return queryset.filter(domain=None, user=None)
        if self.value() == "domain":
            return queryset.exclude(domain=None)
        if self.value() == "user":
            return queryset.exclude(user=None)
        return queryset


@admin.register(Setting)
class SettingAdmin(admin.ModelAdmin):
    """Settings at every level in one list; global ones live only here."""

    form = AnyLevelSettingForm
    list_display = ["key", "shown_value", "level_label", "updated_at"]
    list_filter = [LevelFilter, "key"]
    search_fields = ["key", "domain__name", "user__email"]
    autocomplete_fields = ["domain", "user"]
    list_select_related = ["domain", "user"]

    def get_urls(self):
        effective = path(
            "effective/", self.admin_site.admin_view(self.effective_view), name="gateway_setting_effective"
        )
        return [effective, *super().get_urls()]

    def effective_view(self, request):
        """What any address or domain gets, known or not; the global level when none is asked."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        name = request.GET.get("name", "").strip()
        table, error = "", ""
        try:
            table = render_effective(service.effective_for_name(name)) if name else effective_table(service.GLOBAL)
        except service.SettingError as problem:
            error = str(problem)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Effective settings of {name}" if name else "Effective global settings",
            "opts": self.model._meta,
            "name": name,
            "table": table,
            "error": error,
        }
        return TemplateResponse(request, "gateway/admin/effective_lookup.html", context)

    @admin.display(description="value")
    def shown_value(self, obj):
        return service.format_value(service.shown_value(obj.key, obj.value))

    @admin.display(description="level")
    def level_label(self, obj):
        return obj.level_label
