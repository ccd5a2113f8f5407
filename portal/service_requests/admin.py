from django.contrib import admin

from portal.service_requests.models import Approval, RequestResource, RequestTag, ServiceRequest


class ResourceInline(admin.TabularInline):
    model = RequestResource
    extra = 0


class TagInline(admin.TabularInline):
    model = RequestTag
    extra = 0


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    readonly_fields = ["approver", "revision", "decision", "comment", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceRequest)
class ServiceRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "service_description", "region_id", "state", "requester", "created_at"]
    list_filter = ["state", "region_id", "service_resource_type", "created_at", "decided_at"]
    search_fields = ["service_description", "justification", "service_id", "service_name"]
    list_select_related = ["requester"]
    readonly_fields = [
        "state",
        "revision",
        "client_token",
        "service_id",
        "service_name",
        "service_domain",
        "cloud_status",
        "cloud_request_id",
    ]
    inlines = [ResourceInline, TagInline, ApprovalInline]

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
