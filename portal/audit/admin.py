from django.contrib import admin

from portal.audit.models import AuditEvent, ChainCheck


class ReadOnlyAdmin(admin.ModelAdmin):
    """Seen, never changed: the audit log is written by the portal's workflow alone."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "seq",
        "created_at",
        "request_id",
        "service_id",
        "action",
        "to_state",
        "actor_name",
    ]
    list_filter = ["action", "to_state"]
    raw_id_fields = ["actor"]
    show_full_result_count = False


@admin.register(ChainCheck)
class ChainCheckAdmin(ReadOnlyAdmin):
    list_display = ["checked_at", "ok", "events_checked", "message"]
