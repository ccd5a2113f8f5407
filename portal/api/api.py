"""The HTTP API (/api/v1/): what the pages do, for pipelines, signed with a personal token.

Each router (portal/api/routers/) looks the object up and calls the same selectors, policy
and service functions as its page, and this module translates their answers: not visible
404, not allowed 403, a refusal of the moment (a stale revision, a state that moved, a
request already open) 409, bad input 422 with the field at fault, a spent budget 429 with
Retry-After. No rule of who may do what lives here.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaInvalid

from portal.api import auth
from portal.api.errors import FieldConflict, Invalid
from portal.api.routers import (
    approvals,
    audit,
    delegations,
    load_balancers,
    requests,
    services,
    tokens,
)
from portal.endpoint_services.connections import ConnectionRefused
from portal.endpoint_services.services import ServiceRefused
from portal.service_requests.exceptions import DecisionRefused, NotAllowed
from portal.service_requests.models import TransitionNotAllowed

# What the portal answers a malformed call before any operation runs (a NUL character in
# the path or the query: portal.lib.middleware.RefuseNulMiddleware; more query fields or a
# larger body than Django takes: its error page), so every operation can answer it. Text
# first: a generated client reads it whatever the call.
MALFORMED = {
    "text/plain": {"schema": {"type": "string"}},
    "text/html": {"schema": {"type": "string"}},
}
MALFORMED_HELP = (
    "Malformed: a NUL character in the path or the query (text/plain), or more query fields "
    "or a larger body than the portal takes (its error page, text/html)"
)


class PortalAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation):
        """The operation's function's name, under the prefix the schema has always had: the
        ids stay where the routers move, and generated clients keep their functions' names."""
        return f"portal_api_api_{operation.view_func.__name__}"

    def get_openapi_schema(self, **kwargs):
        """Ninja's schema, with the 400 every operation can answer."""
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                # Ninja keys its answers by number, openapi_extra's by text: one key each.
                answers = {str(status): answer for status, answer in operation["responses"].items()}
                body = answers.get("400", {}).get("content", {})  # errors.BODY_ERRORS
                answers["400"] = {
                    "description": MALFORMED_HELP
                    + ("; or a body that is not JSON (application/json)." if body else "."),
                    "content": {**MALFORMED, **body},
                }
                operation["responses"] = dict(sorted(answers.items()))
        return schema


api = PortalAPI(
    title="PrivateLink portal API",
    version="1",
    description=(
        "Everything the portal's pages do, for pipelines. Sign each call with a personal "
        "access token (`Authorization: Bearer plp_…`), made on /account/tokens/: a read "
        "token reads, a write token also files and decides. See docs/pipeline.md."
    ),
    urls_namespace="api",
    auth=auth.read,
    # The docs page's Swagger UI is served from the portal's static files (ninja is an
    # installed app), under the Content-Security-Policy; no validator badge from outside.
    docs=Swagger(settings={"validatorUrl": None}),
)
api.add_router("", tokens.router)
api.add_router("/requests", requests.router)
api.add_router("/approvals", approvals.router)
api.add_router("/load-balancers", load_balancers.router)
api.add_router("/services", services.router)
api.add_router("/delegations", delegations.router)
api.add_router("/audit", audit.router)


def _error(request, status, detail, errors=()):
    body = {"detail": detail, "errors": [{"field": f, "message": m} for f, m in errors]}
    return api.create_response(request, body, status=status)


@api.exception_handler(Invalid)
def _invalid(request, exc):
    return _error(request, 422, str(exc), exc.errors)


@api.exception_handler(SchemaInvalid)
def _schema_invalid(request, exc):
    errors = []
    for error in exc.errors:
        # ("body", "payload", "resources", 0, "zone_id") -> "resources.0.zone_id"
        where = [str(part) for part in error.get("loc", ())[1:]]
        if where and error["loc"][0] == "body" and len(where) > 1:
            where = where[1:]
        errors.append((".".join(where) or "__all__", error.get("msg", "Invalid.")))
    return _error(request, 422, "The request has errors, each at its field.", errors)


@api.exception_handler(AuthenticationError)
@api.exception_handler(auth.Unauthorized)
def _unauthorized(request, exc):
    detail = str(exc) if isinstance(exc, auth.Unauthorized) else "Sign the call with a token."
    response = _error(request, 401, detail)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(auth.ScopeRefused)
@api.exception_handler(PermissionDenied)
@api.exception_handler(NotAllowed)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or "Not allowed.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    # Django's own message ("No <Model> matches the given query.") would name a table.
    message = str(exc)
    if not message or message.endswith("matches the given query."):
        message = "Not found."
    return _error(request, 404, message)


@api.exception_handler(DecisionRefused)
@api.exception_handler(TransitionNotAllowed)
@api.exception_handler(ConnectionRefused)
@api.exception_handler(ServiceRefused)
def _conflict(request, exc):
    return _error(request, 409, f"{exc}")


@api.exception_handler(FieldConflict)
def _field_conflict(request, exc):
    return _error(request, 409, str(exc), exc.errors)


@api.exception_handler(auth.RateLimited)
def _rate_limited(request, exc):
    response = _error(request, 429, f"{exc} Try again in {exc.retry_after} s.")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return _error(request, exc.status_code, str(exc))
