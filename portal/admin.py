from django.contrib import admin, messages

from portal import accounts
from portal.models import ExternalAccount, Pickup, PickupDownload


@admin.register(ExternalAccount)
class ExternalAccountAdmin(admin.ModelAdmin):
    list_display = ["mail_user", "reason", "invited_at", "activated_at"]
    list_filter = [("activated_at", admin.EmptyFieldListFilter)]
    search_fields = ["mail_user__email"]
    readonly_fields = ["mail_user", "user", "reason", "invited_at", "activated_at"]
    actions = ["send_new_invitation"]

    def has_add_permission(self, request):
        return False  # accounts are made by portal.accounts.invite

    @admin.action(description="Send a new activation link (not yet activated accounts)")
    def send_new_invitation(self, request, queryset):
        waiting = [a for a in queryset if not a.activated_at]
        for account in waiting:
            accounts.invite(account.email, account.reason)
        messages.info(request, f"{len(waiting)} activation link(s) sent.")


class PickupDownloadInline(admin.TabularInline):
    model = PickupDownload
    extra = 0
    can_delete = False
    readonly_fields = ["form", "at", "ip_address", "user_agent", "user"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Pickup)
class PickupAdmin(admin.ModelAdmin):
    list_display = ["mail_user", "created_at", "expires_at", "claimed_at", "download_count", "withdrawn"]
    list_filter = ["withdrawn", ("claimed_at", admin.EmptyFieldListFilter)]
    search_fields = ["mail_user__email", "certificate__sha256"]
    readonly_fields = ["certificate", "mail_user", "issued_by", "created_at", "expires_at", "claimed_at",
                       "password_sent_to"]  # fmt: skip
    fields = [*readonly_fields, "withdrawn"]
    inlines = [PickupDownloadInline]
    actions = ["withdraw"]

    def has_add_permission(self, request):
        return False  # offered by portal.pickup.offer when the CA issues

    @admin.display(description="downloads")
    def download_count(self, obj):
        return obj.downloads.count()

    @admin.action(description="Withdraw: the link stops working")
    def withdraw(self, request, queryset):
        messages.info(request, f"{queryset.update(withdrawn=True)} pickup(s) withdrawn.")
