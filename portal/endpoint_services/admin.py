from django.contrib import admin

from portal.audit.admin import ReadOnlyAdmin
from portal.endpoint_services.models import EndpointConnection, EndpointService


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


@admin.register(EndpointConnection)
class EndpointConnectionAdmin(ReadOnlyAdmin):
    """Read-only: connections are the cloud's, accepted or rejected on the service's page."""

    list_display = [
        "endpoint_id",
        "service",
        "endpoint_owner_id",
        "status",
        "bandwidth",
        "access_request",
        "first_seen_at",
    ]
    list_filter = ["status", "gone"]
    search_fields = ["=endpoint_id", "=endpoint_owner_id", "=service__service_id"]
    list_select_related = ["service"]
    show_full_result_count = False
