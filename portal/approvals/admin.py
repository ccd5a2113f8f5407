"""Delegations in the admin: read, and revoked (audited); never edited."""

from django.contrib import admin

from portal.approvals import services
from portal.approvals.models import Delegation
from portal.audit.admin import ReadOnlyAdmin


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyAdmin):
    """Every delegation; nobody edits a window after the fact: revoking is the only change,
    and it is audited (services.delegation_revoke)."""

    list_display = [
        "delegator",
        "delegate",
        "starts_at",
        "ends_at",
        "reason",
        "created_at",
        "revoked_at",
        "revoked_by",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "starts_at", "ends_at"]
    search_fields = ["delegator__username", "delegate__username", "reason"]
    list_select_related = ["delegator", "delegate", "revoked_by"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected delegations", permissions=["view"])
    def revoke(self, request, queryset):
        for delegation in queryset:
            services.delegation_revoke(delegation=delegation, actor=request.user)
        self.message_user(request, f"{queryset.count()} delegation(s) revoked.")
