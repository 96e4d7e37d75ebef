"""DLP in the admin: rules (checked by the engine when saved), exemptions,
and the quarantine with release and delete actions, masked evidence and a
read-only event log. Releasing and deleting go through dlp.services, so
the admin, the API and the portal do the same thing and record it."""

from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from dlp import services
from dlp.downloads import original_response
from dlp.models import Exemption, QuarantinedMessage, QuarantineEvent, Rule


class LevelFilter(admin.SimpleListFilter):
    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("gateway", "gateway"), ("domain", "domain"), ("user", "user")]

    def queryset(self, request, queryset):
        return {
            "gateway": queryset.filter(domain=None, user=None),
            "domain": queryset.filter(domain__isnull=False),
            "user": queryset.filter(user__isnull=False),
        }.get(self.value(), queryset)


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "level_label", "kind", "action", "threshold", "exemptible", "enabled"]
    list_filter = [LevelFilter, "kind", "action", "enabled"]
    search_fields = ["name", "description", "domain__name", "user__email"]
    autocomplete_fields = ["domain", "user"]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", ("domain", "user")]}),
        ("What to find", {"fields": ["kind", "keywords", "pattern", "detector", "threshold"]}),
        ("Context and exceptions", {"fields": [("hotwords", "hotword_distance"), "exceptions", "exception_patterns"]}),
        ("What to do", {"fields": ["action", "exemptible"]}),
    ]

    @admin.display(description="level")
    def level_label(self, obj):
        return obj.level_label


@admin.register(Exemption)
class ExemptionAdmin(admin.ModelAdmin):
    list_display = ["rule_name", "level_label", "created_at"]
    list_filter = [LevelFilter]
    search_fields = ["rule_name", "domain__name", "user__email"]
    autocomplete_fields = ["domain", "user"]

    @admin.display(description="level")
    def level_label(self, obj):
        return obj.level_label


class EventInline(admin.TabularInline):
    model = QuarantineEvent
    fields = ["at", "who", "what", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(QuarantinedMessage)
class QuarantinedMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "queue_id", "sender", "subject", "rules", "status", "created_at", "expires_at"]
    list_filter = ["status", "action", "sender_domain"]
    search_fields = ["sender", "subject", "message__queue_id"]
    readonly_fields = [
        "message_link", "sender", "subject", "action", "status", "evidence", "created_at", "expires_at",
        "decided_at", "decided_by", "download",
    ]  # fmt: skip
    fields = readonly_fields
    inlines = [EventInline]
    actions = ["release", "delete_from_quarantine"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("message")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deleting goes through the action: the message is dropped and it is recorded

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            actions.pop("release", None)
            actions.pop("delete_from_quarantine", None)
        return actions

    @admin.display(description="queue id")
    def queue_id(self, obj):
        return obj.message.queue_id

    @admin.display(description="rules hit")
    def rules(self, obj):
        return ", ".join(obj.rules_hit) or "unscannable content"

    @admin.display(description="message")
    def message_link(self, obj):
        url = reverse("admin:gateway_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message.queue_id)

    @admin.display(description="rules hit (evidence masked)")
    def evidence(self, obj):
        hits = obj.verdict.get("hits", [])
        rows = format_html_join(
            "",
            "<li>{} ({} match(es), {}): {}</li>",
            (
                (
                    h["rule"],
                    h["count"],
                    h["action"],
                    "; ".join(f"{e['masked']} in {e['location']}" for e in h["evidence"]),
                )
                for h in hits
            ),
        )
        unscannable = format_html_join(
            "",
            "<li>could not be scanned: {} ({})</li>",
            ((u["location"], u["reason"]) for u in obj.verdict.get("unscannable", [])),
        )
        return format_html("<ul>{}{}</ul>", rows, unscannable)

    @admin.display(description="original")
    def download(self, obj):
        url = reverse("admin:dlp_quarantinedmessage_download", args=[obj.pk])
        return format_html('<a href="{}">download the message as received</a>', url)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        row = self.get_object(request, object_id)
        if row is not None and request.method == "GET":
            services.viewed(row, services.who(request.user))
        # Read-only page: the change permission is for the actions, not for editing.
        hidden = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **hidden})

    def get_urls(self):
        own = [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="dlp_quarantinedmessage_download",
            )
        ]
        return own + super().get_urls()

    def download_view(self, request, pk):
        # Raw bytes need the same permission as the spool's raw download.
        if not request.user.has_perm("gateway.view_rawmessage"):  # the raw bytes' own permission
            raise Http404
        return original_response(get_object_or_404(QuarantinedMessage, pk=pk), request.user)

    @admin.action(description="Release: let the selected messages go on", permissions=["change"])
    def release(self, request, queryset):
        self._each(request, queryset, services.release, "released")

    @admin.action(description="Delete: drop the selected messages", permissions=["change"])
    def delete_from_quarantine(self, request, queryset):
        self._each(request, queryset, services.delete, "deleted")

    def _each(self, request, queryset, act, done):
        count, skipped = 0, 0
        for row in queryset:
            try:
                act(row, services.who(request.user))
                count += 1
            except services.NotHeld:
                skipped += 1
        self.message_user(request, f"{count} message(s) {done}.")
        if skipped:
            self.message_user(request, f"{skipped} were no longer held; left as they were.", messages.WARNING)
