"""Services (tag `services`): the catalog, a service's allow-list, connections, requests and
history; refresh it, accept its drift, decide its connections, and file the requests about
it (change, decommission, access, revoke, adopt, transfer). /services."""

from typing import NamedTuple

from django.http import HttpResponse
from ninja import Query, Router
from ninja.errors import HttpError
from ninja.pagination import paginate

from portal.api import auth, schemas
from portal.api.errors import (
    BODY_ERRORS,
    ERRORS,
    FieldConflict,
    Invalid,
    cloud_budget,
    refuse,
)
from portal.api.filing import created, rows, team_pk, valid_editor
from portal.api.paging import Counted, Paged
from portal.cloud import services as cloud
from portal.endpoint_services import connections
from portal.endpoint_services import services as endpoint_services
from portal.endpoint_services.filters import ServiceFilter
from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.endpoint_services.selectors import (
    connections_listed,
    service_consumers_for_user,
    service_events_listed,
    service_for_user,
    service_to_manage,
    unmanaged_services,
)
from portal.requests import services
from portal.requests.forms import CHANGE_FIELDS
from portal.requests.kinds import KINDS
from portal.service_requests import exceptions
from portal.service_requests.models import Kind, ServiceRequest
from portal.service_requests.selectors import access_requests_by_account, service_requests_listed

router = Router(tags=["services"])


@router.get("", response={200: list[schemas.ServiceSummary], **ERRORS}, url_name="services")
@paginate(Paged)
def service_list(request, filters: Query[schemas.ServiceFilterIn]):
    """The catalog: every managed service (not deleted, unless `status` asks), newest first."""
    queryset = EndpointService.objects.filter(managed=True).select_related("owner")
    if not filters.status:
        queryset = queryset.exclude(status=ServiceStatus.DELETED)
    data = {**filters.dict(), "mine": filters.mine or ""}
    found = ServiceFilter(data, queryset=queryset, request=request)
    if not found.is_valid():
        raise Invalid.of(found.form)
    return found.qs.order_by("-created_at", "-id")


# Before /{service_id}, as on the pages: "unmanaged" is not a service's id.
@router.get(
    "/unmanaged", response={200: list[schemas.ServiceSummary], **ERRORS}, url_name="unmanaged"
)
@paginate(Paged)
def service_unmanaged_list(request):
    """The services found in the cloud that the portal did not make, by region and id
    (approvers, auditors); adopt one to manage it."""
    return unmanaged_services(request.user).select_related("owner")


@router.get("/{service_id}", response={200: schemas.ServiceOut, **ERRORS}, url_name="service")
def service_detail(request, service_id: str):
    """A service as last read from the cloud."""
    return service_for_user(request.user, service_id)


class Allowed(NamedTuple):
    account_id: str
    asked: ServiceRequest | None  # the applied access request that added it, if one did


class AllowList:
    """A service's allowed accounts in order, each page read with who asked for its accounts
    (one query a page)."""

    def __init__(self, service):
        self.service = service
        self.accounts = sorted(service.allowed_users)

    def __len__(self):
        return len(self.accounts)

    def __getitem__(self, page):
        accounts = self.accounts[page]
        asked = access_requests_by_account(self.service, accounts)
        return [Allowed(account, asked.get(account)) for account in accounts]


@router.get(
    "/{service_id}/allow-list",
    response={200: list[schemas.AllowedAccount], **ERRORS},
    url_name="allow_list",
)
@paginate(Counted)
def service_allow_list(request, service_id: str):
    """The accounts that may connect, as last read, each with who asked (keepers, auditors)."""
    return AllowList(service_consumers_for_user(request.user, service_id))


@router.get(
    "/{service_id}/connections",
    response={200: list[schemas.ConnectionOut], **ERRORS},
    url_name="connections",
)
@paginate(Counted)
def service_connections(request, service_id: str):
    """The consumers' endpoints as last read, waiting ones first (keepers, auditors)."""
    return connections_listed(service_consumers_for_user(request.user, service_id))


@router.get(
    "/{service_id}/requests",
    response={200: list[schemas.RequestSummary], **ERRORS},
    url_name="service_requests",
)
@paginate(Paged)
def service_request_list(request, service_id: str):
    """The requests about the service, its creation included, newest first (keepers,
    auditors)."""
    return service_requests_listed(service_consumers_for_user(request.user, service_id))


@router.get(
    "/{service_id}/events",
    response={200: list[schemas.ServiceEventOut], **ERRORS},
    url_name="service_events",
)
@paginate(Paged)
def service_event_list(request, service_id: str):
    """The service's own history, newest first, as its page shows it: drift, adoption,
    connections, deletion (the requests about it keep theirs)."""
    return service_events_listed(service_for_user(request.user, service_id))


def _decide_connection(request, service_id, endpoint_id, *, accept):
    service = service_to_manage(request.user, service_id, to="decide connections")
    cloud_budget(request)
    return connections.connection_decide(
        service=service, endpoint_id=endpoint_id, actor=request.user, accept=accept
    )


CONNECTION_HELP = (
    " The portal claims the connection, calls the cloud and returns the connection as it "
    "stands (`in_flight` until the cloud settles it; GET the connections to follow it). "
    "409 when the connection is not in a state this applies to, or the cloud refuses."
)


@router.post(
    "/{service_id}/connections/{endpoint_id}/accept",
    response={200: schemas.ConnectionOut, **ERRORS},
    auth=auth.write,
    url_name="connection_accept",
    description="Accept a waiting endpoint's connection, if its account is on the allow-list "
    "the portal approved (keepers)." + CONNECTION_HELP,
)
def connection_accept(request, service_id: str, endpoint_id: str):
    return _decide_connection(request, service_id, endpoint_id, accept=True)


@router.post(
    "/{service_id}/connections/{endpoint_id}/reject",
    response={200: schemas.ConnectionOut, **ERRORS},
    auth=auth.write,
    url_name="connection_reject",
    description="Reject a waiting endpoint, or disconnect a connected one (keepers)."
    + CONNECTION_HELP,
)
def connection_reject(request, service_id: str, endpoint_id: str):
    return _decide_connection(request, service_id, endpoint_id, accept=False)


@router.post(
    "/{service_id}/refresh",
    response={200: schemas.ServiceOut, **ERRORS, 502: schemas.Error},
    auth=auth.write,
    url_name="refresh",
)
def service_refresh(request, service_id: str):
    """Read the service and its connections from the cloud now, and say whether it drifted
    from what the portal approved (keepers); 502 if the cloud does not answer."""
    service = service_to_manage(request.user, service_id, to="refresh it")
    cloud_budget(request)
    try:
        connections.endpoint_service_refresh_with_connections(pk=service.pk, actor=request.user)
    except cloud.CloudError as error:
        raise HttpError(502, f"Not refreshed: {error.message}") from error
    return service_for_user(request.user, service_id)


@router.post(
    "/{service_id}/accept-drift",
    response={200: schemas.ServiceOut, **ERRORS},
    auth=auth.write,
    url_name="accept_drift",
)
def service_accept_drift(request, service_id: str):
    """Make the cloud's state the one the portal stands behind (keepers); 409 if the
    service has not drifted."""
    service = service_to_manage(request.user, service_id, to="accept drift")
    endpoint_services.endpoint_service_accept_drift(pk=service.pk, actor=request.user)
    return service_for_user(request.user, service_id)


# --- the requests about a service, filed at its address ---------------------------------


# What each kind's filing takes (the API's own; the rest of a kind is its description).
PAYLOADS = {
    Kind.CHANGE: schemas.ChangeIn,
    Kind.DECOMMISSION: schemas.JustificationIn,
    Kind.ACCESS: schemas.AccountIn,
    Kind.REVOKE: schemas.AccountIn,
    Kind.ADOPT: schemas.AdoptionIn,
    Kind.TRANSFER: schemas.TransferIn,
}


def _change(user, service, payload):
    given = payload.dict(exclude_none=True)
    desired = {**service.config(), **given}
    editor = valid_editor(
        desired,
        [*CHANGE_FIELDS, "justification"],
        rows(payload.resources) if payload.resources is not None else desired["resources"],
        rows(payload.tags) if payload.tags is not None else desired["tags"],
        service=service,
    )
    fields, resources, tags = editor.cleaned()
    return services.change_request_create(
        requester=user, service=service, fields=fields, resources=resources, tags=tags
    )


def _through_form(described, user, service, payload):
    """File through the kind's form, as its page does; teams are named, not numbered."""
    data = payload.dict()
    if data.get("team") is not None:
        data["team"] = team_pk(data["team"]) if data["team"] else ""
    form = described.form(data, service=service)
    if not form.is_valid():
        raise Invalid.of(form)
    return services.request_about_service_create(
        kind=described.kind, requester=user, service=service, **form.cleaned_data
    )


def _filer(described):
    def file(request, response: HttpResponse, service_id: str, payload: PAYLOADS[described.kind]):
        service = service_for_user(request.user, service_id)
        refuse(described.refusal(request.user, service))
        try:
            if described.has_form:
                service_request = _through_form(described, request.user, service, payload)
            else:
                service_request = _change(request.user, service, payload)
        except exceptions.NotAllowed:
            raise
        except exceptions.DecisionRefused as error:
            if described.error_field:
                raise FieldConflict(described.error_field, error) from error
            raise
        return created(request, response, service_request)

    file.__name__ = f"service_{described.kind}"  # its operation's id
    return file


for kind in PAYLOADS:
    router.post(
        f"/{{service_id}}/{kind}",
        response={201: schemas.RequestOut, **BODY_ERRORS},
        auth=auth.write,
        url_name=kind.value,
        description=KINDS[kind].summary,
    )(_filer(KINDS[kind]))
