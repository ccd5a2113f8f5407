from django.contrib import admin

from portal.api import services
from portal.api.models import AccessToken


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    """Every token, without secrets (the portal keeps none); revoking is the only change."""

    list_display = [
        "label",
        "name",
        "user",
        "scope",
        "created_at",
        "ends_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = [f.name for f in AccessToken._meta.fields if f.name != "digest"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["view"])
    def revoke(self, request, queryset):
        for token in queryset:
            services.token_revoke(token=token, actor=request.user)
        self.message_user(request, f"{queryset.count()} token(s) revoked.")
