from django.contrib import admin

from portal.audit.admin import ReadOnlyAdmin
from portal.endpoint_services.models import EndpointService


@admin.register(EndpointService)
class EndpointServiceAdmin(ReadOnlyAdmin):
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
