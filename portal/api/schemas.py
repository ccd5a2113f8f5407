"""What the API takes and gives, as the OpenAPI schema describes it.

Inputs are typed loosely where the portal's forms hold the rules: the forms judge them, so
that an error says what the page would say, at the field at fault.
"""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from portal.api.models import Scope
from portal.approvals import policy
from portal.endpoint_services import connections
from portal.endpoint_services.models import ServiceStatus
from portal.service_requests.models import (
    USER_ACTIONS,
    AddressIpVersion,
    Deciders,
    Decision,
    Kind,
    OperationState,
    Payer,
    ResourceType,
    State,
)
from portal.teams.models import Role


def _username(user):
    return user.get_username() if user is not None else None


def _page_url(obj, context):
    """The object's page, as an absolute address."""
    return context["request"].build_absolute_uri(obj.get_absolute_url())


def _documented(values, description):
    """A list of strings the portal's forms judge (so that an error says what the page would
    say), documented as the closed set it is."""
    return Field(
        [],
        description=description,
        json_schema_extra={"items": {"type": "string", "enum": list(values)}},
    )


class FieldError(Schema):
    field: str = Field(
        description="The field at fault: a name, a row's field (`resources.0.zone_id`), or "
        "`__all__` for the whole request."
    )
    message: str


class Error(Schema):
    detail: str
    errors: list[FieldError] = []


class ResourceIn(Schema):
    resource_type: ResourceType
    resource_id: str
    zone_id: str = ""


class TagIn(Schema):
    key: str
    value: str = ""


class CreateIn(Schema):
    """The parameters of CreateVpcEndpointService, and the justification for the approvers."""

    region_id: str
    service_description: str = ""
    auto_accept_enabled: bool = False
    payer: Payer = Payer.ENDPOINT
    zone_affinity_enabled: bool = False
    service_resource_type: ResourceType = ResourceType.SLB
    resource_group_id: str = ""
    address_ip_version: AddressIpVersion = AddressIpVersion.IPV4
    supported_region_list: list[str] = []
    resources: list[ResourceIn] = []
    tags: list[TagIn] = []
    justification: str = ""
    team: str | None = Field(
        None,
        description="The team that will own the service, by name: one of yours (required "
        "when you are in any team).",
    )
    cloud_account: str | None = Field(
        None,
        description="The cloud account the service lives in, by name: one of your team's "
        "(required when your teams have any).",
    )


class ChangeIn(Schema):
    """The desired state of a service; what is left out stays as the service is now.

    `resources` and `tags`, when given, are the whole list the service should have.
    """

    service_description: str | None = None
    auto_accept_enabled: bool | None = None
    zone_affinity_enabled: bool | None = None
    connect_bandwidth: int | None = None
    address_ip_version: AddressIpVersion | None = None
    supported_region_list: list[str] | None = None
    resources: list[ResourceIn] | None = None
    tags: list[TagIn] | None = None
    justification: str = ""


class EditIn(Schema):
    """An edit of one's draft, or of a request sent back: the revision it was made on, and
    what changes; what is left out stays as the request has it. A create request takes
    CreateIn's fields, a change ChangeIn's."""

    revision: int = Field(description="The revision the edit was made on (409 if it moved).")
    team: str | None = Field(None, description="A create request's owning team, by name.")
    cloud_account: str | None = Field(None, description="A create request's account, by name.")
    region_id: str | None = None
    service_description: str | None = None
    auto_accept_enabled: bool | None = None
    payer: Payer | None = None
    zone_affinity_enabled: bool | None = None
    service_resource_type: ResourceType | None = None
    resource_group_id: str | None = None
    address_ip_version: AddressIpVersion | None = None
    supported_region_list: list[str] | None = None
    connect_bandwidth: int | None = None
    resources: list[ResourceIn] | None = None
    tags: list[TagIn] | None = None
    justification: str | None = None


class JustificationIn(Schema):
    justification: str = ""


class AccountIn(Schema):
    account_id: str = Field(description="16 digits, or * for every account.")
    justification: str = ""


class AdoptionIn(Schema):
    owner: str = Field(description="The username of who will own the service.")
    team: str | None = Field(None, description="The team that will own it, by name.")
    justification: str = ""


class TransferIn(Schema):
    team: str = Field(description="The team that takes the service on, by name.")
    justification: str = ""


class DecidersOut(Schema):
    """Who decides the request (policy.route), as its page says."""

    deciders: Deciders
    team: str | None
    who: str
    reason: str

    @staticmethod
    def resolve_team(route):
        return route.team.name if route.team else None


class DecisionIn(Schema):
    revision: int | None = Field(None, description="The revision the decision is about.")
    digest: str = Field("", description="The request's `digest` when it was read.")
    comment: str = ""


class ResourceOut(Schema):
    resource_type: str
    resource_id: str
    zone_id: str


class TagOut(Schema):
    key: str
    value: str


class OperationOut(Schema):
    position: int
    action: str
    params: dict[str, Any]
    summary: list[str]
    state: OperationState
    outcome: str
    cloud_request_id: str


class ApprovalOut(Schema):
    approver: str
    on_behalf_of: str | None = Field(
        None, description="Whom the approver decided for, as their delegate (it counts as theirs)."
    )
    decision: Decision
    revision: int
    current: bool = Field(description="Binds to the request's revision and content as they are.")
    comment: str
    created_at: datetime

    @staticmethod
    def resolve_approver(approval):
        return approval.approver.get_username()

    @staticmethod
    def resolve_on_behalf_of(approval):
        return _username(approval.on_behalf_of)

    @staticmethod
    def resolve_current(approval):
        decided = approval.request
        return approval.revision == decided.revision and approval.digest == decided.digest()


class Requirement(Schema):
    needed: int
    reasons: list[str]
    text: str

    @staticmethod
    def resolve_text(requirement):
        return str(requirement)


class DryRunOut(Schema):
    ok: bool
    code: str
    message: str
    field: str = ""
    at_fault: list[dict[str, str]] = []

    @staticmethod
    def resolve_field(result):
        return getattr(result, "field", "") or ""

    @staticmethod
    def resolve_at_fault(result):
        return [
            {name: str(value or "") for name, value in row.items()}
            for row in getattr(result, "at_fault", [])
        ]


class RequestSummary(Schema):
    id: int
    kind: Kind
    state: State
    revision: int
    region_id: str
    service_description: str
    service_id: str
    service_name: str
    requester: str
    created_at: datetime
    submitted_at: datetime | None
    url: str = Field(description="The request's page in the portal.")

    @staticmethod
    def resolve_requester(service_request):
        return service_request.requester.get_username()

    @staticmethod
    def resolve_url(service_request, context):
        return _page_url(service_request, context)


class RequestOut(RequestSummary):
    """The request as its page shows it to the caller: status, content, plan, approvals."""

    digest: str = Field(description="SHA-256 of this revision's content; decisions bind to it.")
    service_domain: str
    auto_accept_enabled: bool
    payer: Payer
    zone_affinity_enabled: bool
    service_resource_type: str = Field(description="slb, alb, nlb or gwlb, as the cloud says.")
    resource_group_id: str
    address_ip_version: AddressIpVersion
    supported_region_list: list[str]
    connect_bandwidth: int | None
    account_id: str
    target_owner: str | None
    target_team: str | None = Field(description="The team it is for (create, adopt, transfer).")
    cloud_account: str | None = Field(
        description="The cloud account it is about, by name (none: the portal's own)."
    )
    deciders: DecidersOut
    justification: str
    resources: list[ResourceOut]
    tags: list[TagOut]
    plan: list[OperationOut] = Field(alias="operations")
    approvals: list[ApprovalOut]
    requirement: Requirement
    shortfall: str | None = Field(description="Why it can never get the approvals it needs.")
    available_actions: list[Literal[USER_ACTIONS]] = Field(
        description="What the caller may do to it now."
    )
    dry_run: DryRunOut | None
    error_code: str
    error_message: str
    cloud_status: str
    cloud_request_id: str
    decided_at: datetime | None
    state_changed_at: datetime

    @staticmethod
    def resolve_digest(service_request):
        return service_request.digest()

    @staticmethod
    def resolve_target_owner(service_request):
        return _username(service_request.target_owner)

    @staticmethod
    def resolve_target_team(service_request):
        team = service_request.target_team
        return team.name if team else None

    @staticmethod
    def resolve_cloud_account(service_request):
        if service_request.endpoint_service_id is not None:
            account = service_request.endpoint_service.cloud_account
        else:
            account = service_request.cloud_account
        return account.name if account else None

    @staticmethod
    def resolve_deciders(service_request):
        return policy.routed(service_request)

    @staticmethod
    def resolve_requirement(service_request):
        return policy.required_approvals(service_request)

    @staticmethod
    def resolve_shortfall(service_request):
        if service_request.state != State.PENDING_APPROVAL:
            return None
        return policy.policy_shortfall(service_request)

    @staticmethod
    def resolve_available_actions(service_request, context):
        actions = policy.available_actions(context["request"].user, service_request)
        return [action for action in USER_ACTIONS if action in actions]

    @staticmethod
    def resolve_dry_run(service_request):
        if service_request.dry_run_ok is None:
            return None
        return {
            "ok": service_request.dry_run_ok,
            "code": service_request.dry_run_code,
            "message": service_request.dry_run_message,
        }


class QueueItem(RequestSummary):
    approvals_so_far: int
    requirement: Requirement
    on_behalf_of: str | None = Field(
        None, description="Whom the caller decides this request for, as their delegate."
    )
    delegated_until: datetime | None = None

    @staticmethod
    def resolve_on_behalf_of(item):
        return item.for_delegator.get_username() if hasattr(item, "for_delegator") else None


class Lent(Schema):
    delegate: str
    ends_at: datetime

    @staticmethod
    def resolve_delegate(delegation):
        return delegation.delegate.get_username()


class QueuePage(Schema):
    items: list[QueueItem] = Field(
        description="What waits for the caller's own decision, then (on page 1) what they "
        "decide as someone's delegate."
    )
    page: int
    has_next: bool
    count: int
    lent: list[Lent] = Field(
        [], description="Who decides for the caller now (their delegations in force)."
    )


class DelegationOut(Schema):
    id: int
    delegator: str
    delegate: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    status: Literal["upcoming", "active", "ended", "revoked"]

    @staticmethod
    def resolve_delegator(delegation):
        return delegation.delegator.get_username()

    @staticmethod
    def resolve_delegate(delegation):
        return delegation.delegate.get_username()

    @staticmethod
    def resolve_revoked_by(delegation):
        return _username(delegation.revoked_by)

    @staticmethod
    def resolve_status(delegation):
        return delegation.status()


class DelegationList(Schema):
    given: list[DelegationOut]
    received: list[DelegationOut]


class DelegationIn(Schema):
    delegate: str = Field(description="The username of who decides for you.")
    starts_at: datetime | None = Field(None, description="Empty: now.")
    ends_at: datetime
    reason: str


class EventOut(Schema):
    seq: int
    action: str
    actor: str = Field(alias="actor_label")
    from_state: str
    to_state: str
    comment: str
    details: dict[str, Any]
    created_at: datetime
    hash: str


class ServiceSummary(Schema):
    service_id: str
    service_name: str
    service_domain: str
    region_id: str
    status: ServiceStatus
    managed: bool
    owner: str | None
    team: str | None = Field(description="The owning team: its members look after it.")
    service_description: str
    service_resource_type: str
    created_at: datetime
    url: str = Field(description="The service's page in the portal.")

    @staticmethod
    def resolve_owner(service):
        return service.owner.get_username() if service.owner_id else None

    @staticmethod
    def resolve_team(service):
        return service.team.name if service.team_id else None

    @staticmethod
    def resolve_url(service, context):
        return _page_url(service, context)


class ServiceOut(ServiceSummary):
    cloud_account: str | None = Field(description="The account it lives in, by name.")
    cloud_account_id: str | None = Field(description="That account's uid.")
    payer: str
    auto_accept_enabled: bool
    zone_affinity_enabled: bool
    connect_bandwidth: int | None
    address_ip_version: str
    resource_group_id: str
    supported_region_list: list[str]
    zones: list[str]
    resources: list[dict[str, Any]]
    tags: list[TagOut]
    drifted: bool
    drift: list[str]
    read_at: datetime | None

    @staticmethod
    def resolve_cloud_account(service):
        return service.cloud_account.name if service.cloud_account_id else None

    @staticmethod
    def resolve_cloud_account_id(service):
        return service.cloud_account.uid if service.cloud_account_id else None


class ServiceFilterIn(Schema):
    mine: bool = Field(False, description="Only the caller's services.")
    region_id: str = ""
    status: list[str] = _documented(
        ServiceStatus.values, "Any of the services' statuses (deleted ones only when asked)."
    )
    q: str = Field("", description="ServiceId, ServiceName or words of the description.")


class AllowedAccount(Schema):
    account_id: str
    access_request: int | None = Field(description="The applied access request that added it.")
    requested_by: str | None
    outside_portal: bool = Field(description="No access request of the portal explains it.")

    @staticmethod
    def resolve_access_request(allowed):
        return allowed.asked.pk if allowed.asked else None

    @staticmethod
    def resolve_requested_by(allowed):
        return allowed.asked.requester.get_username() if allowed.asked else None

    @staticmethod
    def resolve_outside_portal(allowed):
        return allowed.asked is None


class ConnectionOut(Schema):
    endpoint_id: str
    endpoint_owner_id: str
    endpoint_vpc_id: str
    status: str
    bandwidth: int | None
    zones: list[Any]
    waiting: bool = Field(description="Ready and Disconnected: waiting for the owner.")
    in_flight: bool
    admitted: bool = Field(description="The account is on the allow-list the portal approved.")
    access_request: int | None = Field(alias="access_request_id")
    rejected_at: datetime | None
    read_at: datetime

    @staticmethod
    def resolve_admitted(connection):
        return connections.admitted(connection.service, connection)


class TeamOut(Schema):
    name: str
    role: Role


class Me(Schema):
    username: str
    roles: list[Literal["approver", "auditor", "admin"]]
    teams: list[TeamOut]
    token: str
    scope: Scope
    expires_at: datetime | None


class HistoryFilterIn(Schema):
    """The history page's filters (portal/audit/filters.py), by the same names."""

    state: list[str] = _documented(State.values, "Any of the request states.")
    kind: list[str] = _documented(Kind.values, "Any of the request kinds.")
    region_id: str = ""
    requester: str = Field("", description="A username.")
    approver: str = Field("", description="A username: requests they decided on.")
    created_after: str = Field("", description="A date, YYYY-MM-DD, the day included.")
    created_before: str = Field("", description="A date, YYYY-MM-DD, the day included.")
    decided_after: str = Field("", description="A date, YYYY-MM-DD, the day included.")
    decided_before: str = Field("", description="A date, YYYY-MM-DD, the day included.")
    service: str = Field("", description="A ServiceId or ServiceName.")
    resource_id: str = Field("", description="A load balancer's id.")
    q: str = Field("", description="Text in the description or the justification.")
    ordering: str = Field(
        "",
        description="created, decided, state or region; a leading - for descending "
        "(newest created first when left out).",
    )


class DecisionOut(Schema):
    approver: str
    decision: Decision
    revision: int
    created_at: datetime

    @staticmethod
    def resolve_approver(approval):
        return approval.approver.get_username()


class HistoryItem(RequestSummary):
    decided_at: datetime | None
    decisions: list[DecisionOut]


class ChainOut(Schema):
    ok: bool = Field(description="The request's events are sealed and explain it as it is.")
    events_checked: int
    broken_event: int | None = Field(description="The first event found wrong.")
    message: str


class OwnerQueueItem(RequestSummary):
    account_id: str = Field(description="The consumer account asked for (access, revoke).")


class LoadBalancersIn(Schema):
    region_id: str = Field(pattern=r"^[a-z]{2}(-[a-z0-9]+)+$", description="cn-hangzhou...")
    service_resource_type: ResourceType
    cloud_account: str | None = Field(
        None, description="Whose load balancers, by account name: one of your teams' accounts."
    )


class LoadBalancerOut(Schema):
    id: str
    name: str
    zones: list[str]
    privatelink: bool = Field(description="PrivateLink takes it as a service resource.")
    why_not: str = Field(description="Why PrivateLink would refuse it, if it would.")


class LoadBalancerList(Schema):
    region_id: str
    service_resource_type: ResourceType
    load_balancers: list[LoadBalancerOut] = Field(description="The first page the cloud lists.")
    total: int = Field(description="How many the account has there, listed or not.")
    zone_required: bool = Field(description="Each resource row names one of its zones.")
    note: str = Field(description="Why nothing is listed (gwlb are not).")
    warning: str = Field(description="Set when the list is an earlier one the cloud gave.")


class ServiceEventOut(Schema):
    seq: int
    action: str
    actor: str = Field(alias="actor_label")
    created_at: datetime
    differences: list[str] = Field(description="What differed, for drift events.")

    @staticmethod
    def resolve_differences(event):
        return [str(line) for line in event.details.get("differences") or []]


class CallOut(Schema):
    at: datetime
    action: str
    outcome: str = Field(description="ok, or the cloud's error code.")
    request_id: str = Field(description="The cloud's RequestId.")
    duration_ms: int | None
    dry_run: bool
    already_done: bool
    verdict: Literal["ok", "busy", "error"] = Field(
        description="ok, busy (the cloud, retried) or error."
    )
    retry: str = Field(description="retried, or retrying while the worker waits.")


class StepOut(Schema):
    label: str
    state: str
    operation: int | None = Field(description="The plan's operation, counted from 1.")
    operation_action: str
    status: Literal["done", "current", "failed", "final", "todo"]
    by: str = Field(description="Who moved the request into this step, if a person did.")
    began: str = Field(description="The action that did (submit, approve, retry...).")
    started_at: datetime | None
    ended_at: datetime | None
    seconds: int | None
    error: str
    calls: list[CallOut]
    notes: list[str]


class StepLogOut(Schema):
    steps: list[StepOut]
    earlier_calls: int = Field(description="Events with calls older than those given.")
    oldest_seq: int | None = Field(description="Pass as `before` for the earlier ones.")


class TokenOut(Schema):
    id: int
    name: str
    label: str = Field(description="The token's start; the secret is never shown again.")
    scope: Scope
    created_at: datetime
    expires_at: datetime | None = Field(
        alias="ends_at", description="When it stops working (API_TOKEN_MAX_DAYS at the most)."
    )
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None
    usable: bool = Field(alias="is_usable")
