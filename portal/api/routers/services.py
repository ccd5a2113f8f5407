"""Services (tag `services`): the catalog, a service's allow-list, connections, requests and
history; refresh it, accept its drift, decide its connections, and file the requests about
it (change, decommission, access, revoke, adopt, transfer). /services."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from django.http import HttpResponse
from ninja import Query, Router, Schema
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
from portal.service_requests import policy, services
from portal.service_requests.forms import (
    CHANGE_FIELDS,
    AccessForm,
    AdoptionForm,
    DecommissionForm,
    RevokeForm,
    TransferForm,
)
from portal.service_requests.models import ServiceRequest
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


@dataclass(frozen=True)
class Filing:
    """How one kind of request about a service is filed: what it takes, the policy that may
    refuse the caller, and what files it (the kind's form and service function)."""

    kind: str
    payload: type[Schema]
    refusal: Callable
    file: Callable  # (user, service, payload) -> the request made
    description: str
    conflict_at: str = ""  # the field a refusal of the moment is about, if one is


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


def _through(form, create, *arguments):
    """File through the kind's form: `create` takes its cleaned `arguments`."""

    def file(user, service, payload):
        judged = form(payload, service)
        if not judged.is_valid():
            raise Invalid.of(judged)
        data = judged.cleaned_data
        return create(
            requester=user, service=service, **{name: data.get(name) for name in arguments}
        )

    return file


FILINGS = (
    Filing(
        "change",
        schemas.ChangeIn,
        policy.change_refusal,
        _change,
        "File a change: the desired state, from which the portal plans the cloud operations.",
    ),
    Filing(
        "decommission",
        schemas.JustificationIn,
        policy.change_refusal,
        _through(
            lambda payload, service: DecommissionForm(payload.dict()),
            services.decommission_request_create,
            "justification",
        ),
        "File the service's deletion (two approvers decide).",
    ),
    Filing(
        "access",
        schemas.AccountIn,
        policy.access_refusal,
        _through(
            lambda payload, service: AccessForm(payload.dict()),
            services.access_request_create,
            "account_id",
            "justification",
        ),
        "Ask that a consumer's account may connect; the service's owner decides.",
        conflict_at="account_id",
    ),
    Filing(
        "revoke",
        schemas.AccountIn,
        policy.revoke_refusal,
        _through(
            lambda payload, service: RevokeForm(payload.dict()),
            services.revoke_request_create,
            "account_id",
            "justification",
        ),
        "Ask that an account be taken off the allow-list (owner or approver).",
        conflict_at="account_id",
    ),
    Filing(
        "adopt",
        schemas.AdoptionIn,
        policy.adoption_refusal,
        _through(
            lambda payload, service: AdoptionForm(
                {**payload.dict(), "team": team_pk(payload.team) if payload.team else ""}
            ),
            services.adoption_request_create,
            "owner",
            "team",
            "justification",
        ),
        "File the adoption of a service the portal did not make, naming its owner (approvers).",
    ),
    Filing(
        "transfer",
        schemas.TransferIn,
        policy.transfer_refusal,
        _through(
            lambda payload, service: TransferForm(
                {"team": team_pk(payload.team), "justification": payload.justification},
                service=service,
            ),
            services.transfer_request_create,
            "team",
            "justification",
        ),
        "File the service's transfer to another team; that team's approvers accept it.",
        conflict_at="team",
    ),
)


def _filer(filing):
    def file(request, response: HttpResponse, service_id: str, payload: filing.payload):
        service = service_for_user(request.user, service_id)
        refuse(filing.refusal(request.user, service))
        try:
            service_request = filing.file(request.user, service, payload)
        except services.NotAllowed:
            raise
        except services.DecisionRefused as error:
            if filing.conflict_at:
                raise FieldConflict(filing.conflict_at, error) from error
            raise
        return created(request, response, service_request)

    file.__name__ = f"service_{filing.kind}"  # its operation's id
    return file


for filing in FILINGS:
    router.post(
        f"/{{service_id}}/{filing.kind}",
        response={201: schemas.RequestOut, **BODY_ERRORS},
        auth=auth.write,
        url_name=filing.kind,
        description=filing.description,
    )(_filer(filing))
