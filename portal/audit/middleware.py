from portal.audit import grants


class GrantsActorMiddleware:
    """Name who writes a rights row in a request (an admin's form, an approver's delegation)
    and through what: the admin site, the API, or the portal's pages (portal.audit.grants)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        source = (
            "admin"
            if path.startswith("/admin/")
            else "api"
            if path.startswith("/api/")
            else "portal"
        )
        with grants.acting(actor=lambda: request.user, source=source):
            return self.get_response(request)
