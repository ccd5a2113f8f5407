from django.contrib import admin

from portal.endpoint_services.models import EndpointService


@admin.register(EndpointService)
class EndpointServiceAdmin(admin.ModelAdmin):
    """Read-only: a service changes through approved requests and cloud readings, never here."""

    list_display = [
        "service_id",
        "service_description",
        "region_id",
        "service_resource_type",
        "status",
        "owner",
        "drifted",
        "created_at",
    ]
    list_filter = ["status", "managed", "drifted", "service_resource_type"]
    search_fields = ["service_id", "service_name", "service_description"]
    list_select_related = ["owner"]
    # Counting 10,000s of rows on every page is what the admin docs advise against.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
