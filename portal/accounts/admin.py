"""Who each account is at the identity provider: read in the admin, never changed there (a
sign-in binds it, and the binding is audited)."""

from django.contrib import admin

from portal.accounts.models import Identity
from portal.audit.admin import ReadOnlyAdmin


def _superusers_only(request):
    """The admin site is for the portal's admins (superusers) alone. Django lets in any active
    staff user and then asks their model permissions, rows (auth_user_user_permissions,
    auth_group_permissions) the portal neither grants nor seals: a permission written into
    the database would open the admin, and from it every right."""
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = _superusers_only


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ["user", "subject", "issuer", "created_at"]
    search_fields = ["user__username", "=subject"]
    list_select_related = ["user"]
