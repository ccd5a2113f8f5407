from django.contrib import admin

from portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "request", "action", "from_state", "to_state", "actor"]
    list_filter = ["action", "to_state"]
    list_select_related = ["actor", "request"]
    raw_id_fields = ["request", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
