"""Who calls the API: a personal access token in `Authorization: Bearer plp_...`, nothing else.

Session cookies are not read, so a page in a browser cannot make a signed-in user's browser
call the API (no CSRF to get wrong). Each call counts against its token's rate limit.
"""

import logging

from ninja.security import HttpBearer

from portal.accounts import rights
from portal.api import services
from portal.audit import chain, grants
from portal.lib.limits import api_token_wait

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """No usable token: unknown, revoked, expired, or its user deactivated."""


class ScopeRefused(Exception):
    """A usable token that may not make this call."""


class RateLimited(Exception):
    def __init__(self, retry_after, message):
        super().__init__(message)
        self.retry_after = retry_after


class TokenAuth(HttpBearer):
    """A token of either scope for reads; a write token for writes."""

    def __init__(self, *, write):
        super().__init__()
        self.write = write

    def authenticate(self, request, token):
        found = services.token_for(token)
        if found is None or not found.is_usable or not found.user.is_active:
            raise Unauthorized("The token is unknown, revoked or expired.")
        if not grants.explains("token", found):
            # Written into the database, or its secret, scope or end changed there: the log
            # shows no such grant. It acts as no token; verification names it.
            log.error("API token #%s is not the one the audit log records; refused", found.pk)
            raise Unauthorized("The token is unknown, revoked or expired.")
        wait = api_token_wait(request, found)
        if wait is not None:
            raise RateLimited(wait, "This token made too many calls this minute.")
        request.user = found.user
        request.api_token = found  # the write is recorded with its answer (middleware)
        address = request.META.get("REMOTE_ADDR")
        services.token_used(found, address=address)
        if self.write and not found.may_write:
            raise ScopeRefused("This token may only read: make a write token for this call.")
        if self.write and rights.is_read_only(found.user):
            raise ScopeRefused("Auditors can read, not change.")
        if not self.write:
            services.token_read_audit(
                found, method=request.method, path=request.path, address=address
            )
        chain.via.set({"token": found.pk, "prefix": found.prefix})
        return found


read = TokenAuth(write=False)
write = TokenAuth(write=True)
