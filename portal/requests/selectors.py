"""The lookups of a request with the permission check of what a person means to do with it.

Pages and the API share them, so that both answer 404 and 403 for the same reasons: a
request the user may not see is not found; one they see but may not act on is forbidden.
"""

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.utils import timezone

from portal.accounts import rights
from portal.approvals import policy
from portal.cloud import services as cloud
from portal.lib.lookups import one_or_404
from portal.requests.forms import REGION_PATTERN, ZONE_REQUIRED_TYPES
from portal.service_requests.models import (
    Kind,
    ResourceType,
    ServiceRequest,
)
from portal.teams import services as teams


def request_for_user(user, pk):
    """Return the request if `user` may see it; 404 otherwise, so ids leak nothing."""
    return one_or_404(
        policy.visible_requests(user).select_related("requester", "endpoint_service"),
        "No such request.",
        pk=pk,
    )


# The status poll's query, compiled once per database: building and compiling visible_to's
# filter costs several times what running it does, and every open request page polls every
# 2 s. It is compiled for a stand-in user, request and moment, which each poll replaces by
# its own; only people whose answer depends on nothing else take it (see request_version).
_STAND_IN_USER = -7_000_000_001
_STAND_IN_REQUEST = -7_000_000_002
_STAND_IN_AT = datetime(1901, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
_polls = {}


def request_version(user, pk):
    """(version, state) of request `pk` if `user` may see it (policy.visible_to), else None:
    what the status poll asks, in one query."""
    if not user.is_authenticated or user.is_superuser or rights.roles_read(user):
        return (
            policy.visible_requests(user)
            .filter(pk=pk)
            .order_by()
            .values_list("version", "state")
            .first()
        )
    if not -(2**63) <= int(pk) < 2**63:
        return None  # no row has it; the ORM says so too, a cursor would refuse the number
    using = router.db_for_read(ServiceRequest)
    key = (using, connections[using].vendor)
    if key not in _polls:
        _polls[key] = _compiled_poll(using)
    sql, params = _polls[key]
    at = connections[using].ops.adapt_datetimefield_value(timezone.now())
    values = {_USER: user.pk, _REQUEST: pk, _AT: at}
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [values[p] if isinstance(p, _StandIn) else p for p in params])
        return cursor.fetchone()


class _StandIn(str):
    """Where a poll's own value goes among the compiled query's parameters."""


_USER, _REQUEST, _AT = _StandIn("user"), _StandIn("request"), _StandIn("at")


def _compiled_poll(using):
    """The poll's SQL for the stand-ins, and its parameters with a _StandIn where each was."""
    query = (
        ServiceRequest.objects.using(using)
        .filter(policy.visible_to(get_user_model()(pk=_STAND_IN_USER), _STAND_IN_AT))
        .filter(pk=_STAND_IN_REQUEST)
        .order_by()
        .values_list("version", "state")[:1]
    )
    sql, params = query.query.get_compiler(using).as_sql()
    at = connections[using].ops.adapt_datetimefield_value(_STAND_IN_AT)
    found = []
    for param in params:
        if type(param) is int and param == _STAND_IN_USER:
            param = _USER
        elif type(param) is int and param == _STAND_IN_REQUEST:
            param = _REQUEST
        elif type(param) is type(at) and param == at:
            param = _AT
        found.append(param)
    if {p for p in found if isinstance(p, _StandIn)} != {_USER, _REQUEST, _AT}:
        # A stand-in the compiler wrote otherwise would answer a poll for someone else.
        raise RuntimeError("The poll's query did not compile with its stand-ins.")
    return sql, found


def own_request(user, pk):
    """Return the request if `user` filed it; 403 if they only see it."""
    service_request = request_for_user(user, pk)
    if service_request.requester_id != user.pk:
        raise PermissionDenied("Only the requester can do this.")
    return service_request


def request_to_validate(user, pk):
    service_request = request_for_user(user, pk)
    if "validate" not in policy.available_actions(user, service_request):
        raise PermissionDenied("Only the requester and approvers can validate a request.")
    return service_request


def request_to_clone(user, pk):
    """Return the request if `user` sees it and it is a create request (the kind a new
    draft can start from)."""
    service_request = request_for_user(user, pk)
    if service_request.kind != Kind.CREATE:
        raise PermissionDenied("Only create requests can be cloned.")
    return service_request


def request_to_decide(user, pk):
    """Return the request if `user` is among those who decide it (whether they may now is
    the service layer's answer: a stale revision, a second vote)."""
    service_request = request_for_user(user, pk)
    if not policy.may_decide(user, service_request) or service_request.requester_id == user.pk:
        raise PermissionDenied("You cannot decide this request.")
    return service_request


def request_to_retry(user, pk):
    service_request = request_for_user(user, pk)
    if not rights.is_approver(user):
        raise PermissionDenied("Only approvers can retry a failed request.")
    return service_request


def require_requester(user):
    """Refuse those who only read (auditors) what is there to file requests."""
    if rights.is_read_only(user):
        raise PermissionDenied("Auditors do not make requests.")


def picker_account(user, pk):
    """The cloud account a picker lists for `user`: one of their teams' (by pk), else None
    (the portal's own account)."""
    if not str(pk or "").isdigit():
        return None
    return teams.accounts_of(user).filter(pk=int(pk)).first()


def load_balancer_picker(region_id, resource_type, *, error="", account=None):
    """What the load balancer picker shows for a region and a service resource type: the
    account's load balancers of that type there, each with its zones, or why there are none."""
    picker = {"region_id": region_id, "resource_type": resource_type, "error": error}
    if not (REGION_PATTERN.match(region_id or "") and resource_type in ResourceType.values):
        picker["note"] = "Choose the region and the service resource type first."
        return picker
    picker["type_label"] = ResourceType(resource_type).label
    found, picker["warning"] = cloud.load_balancers(
        resource_type=resource_type,
        region_id=region_id,
        reach=account.reach() if account is not None else cloud.HOME,
    )
    picker["account"] = account
    zone_names = dict(cloud.zones(region_id)[0])
    picker["load_balancers"] = [
        {**lb, "zone_choices": [(zone, zone_names.get(zone, zone)) for zone in lb["zones"]]}
        for lb in found["load_balancers"]
    ]
    picker["total"] = found["total"]
    picker["one_zone"] = resource_type not in ZONE_REQUIRED_TYPES
    return picker
