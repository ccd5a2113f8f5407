from django.core.exceptions import PermissionDenied
from django.urls import reverse

from portal.accounts.rights import is_read_only

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class AuditorsReadOnlyMiddleware:
    """Refuse every write from an auditor: they read everything and change nothing.

    An auditor who is also an approver or a superuser is not read-only; logging in and out,
    and their own API tokens, are allowed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            request.method not in SAFE_METHODS
            and user is not None
            and user.is_authenticated
            and request.path not in (reverse("login"), reverse("logout"))
            # Auditors make (read) API tokens for their scripts, and revoke them.
            and not request.path.startswith(reverse("tokens:list"))
            and is_read_only(user)
        ):
            raise PermissionDenied("Auditors can read, not change.")
        return self.get_response(request)
