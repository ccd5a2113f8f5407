"""Who each account is at the identity provider: read in the admin, never changed there (a
sign-in binds it, and the binding is audited)."""

from django.contrib import admin

from portal.accounts.models import Identity
from portal.audit.admin import ReadOnlyAdmin


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ["user", "subject", "issuer", "created_at"]
    search_fields = ["user__username", "=subject"]
    list_select_related = ["user"]
