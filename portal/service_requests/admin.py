"""The admin shows requests; it never changes them.

A request changes only through its workflow (pages, services, the worker), which records
every change in the audit log; an admin edit would bypass both. Users and groups stay
editable in the admin (django.contrib.auth's own).
"""

from django.contrib import admin

from portal.audit.admin import ReadOnlyAdmin
from portal.service_requests.models import (
    Approval,
    RequestOperation,
    RequestResource,
    RequestTag,
    ServiceRequest,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ResourceInline(ReadOnlyInline):
    model = RequestResource


class TagInline(ReadOnlyInline):
    model = RequestTag


class OperationInline(ReadOnlyInline):
    model = RequestOperation


class ApprovalInline(ReadOnlyInline):
    model = Approval


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "service_description",
        "region_id",
        "state",
        "requester",
        "created_at",
    ]
    # As the admin's docs advise for a big table: no full count on every page, no filter that
    # lists its values with a DISTINCT scan (filter by region with ?region_id__exact=), and a
    # search that matches ServiceIds and names exactly rather than scanning them.
    show_full_result_count = False
    list_filter = [
        "state",
        "kind",
        "service_resource_type",
        "created_at",
        "decided_at",
    ]
    search_fields = ["service_description", "justification", "=service_id", "=service_name"]
    list_select_related = ["requester"]
    inlines = [ResourceInline, TagInline, OperationInline, ApprovalInline]

    # The lookups the auditors' history filters on, so that both views can be compared.
    EXTRA_LOOKUPS = {
        "requester__username",
        "approvals__approver__username",
        "resources__resource_id",
        "created_at__lt",
        "decided_at__lt",
    }

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.EXTRA_LOOKUPS or super().lookup_allowed(lookup, value, request)
