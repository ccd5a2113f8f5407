from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max, Q
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from portal.approvals import policy
from portal.cloud import services as cloud
from portal.endpoint_services import connections, keepers, services
from portal.endpoint_services.filters import ServiceFilter
from portal.endpoint_services.models import CONNECTION_IN_FLIGHT, EndpointService, ServiceStatus
from portal.endpoint_services.selectors import (
    connections_listed,
    service_events_listed,
    service_for_user,
    service_to_manage,
    unmanaged_services,
)
from portal.http import HttpRequest
from portal.lib.limits import cloud_budget_refusal
from portal.lib.paging import page_number
from portal.service_requests.models import LIVE_STATES, State
from portal.service_requests.selectors import access_requests_by_account, service_requests_listed
from portal.teams import services as teams

PAGE_SIZE = 50
# A service page follows its requests while one can still move (a decision, the worker).
FOLLOWED_STATES = {*LIVE_STATES, State.PENDING_APPROVAL}


def _page(request, queryset):
    """One page of `queryset` without counting it all: a page and whether there is another."""
    number = page_number(request)
    offset = (number - 1) * PAGE_SIZE
    rows = list(queryset[offset : offset + PAGE_SIZE + 1])
    params = request.GET.copy()
    params.pop("page", None)
    return {
        "rows": rows[:PAGE_SIZE],
        "page": number,
        "has_next": len(rows) > PAGE_SIZE,
        "query": params.urlencode(),
    }


@login_required
@require_GET
def service_list(request: HttpRequest):
    queryset = EndpointService.objects.filter(managed=True).select_related(
        "owner", "team", "cloud_account"
    )
    if not request.GET.getlist("status"):
        queryset = queryset.exclude(status=ServiceStatus.DELETED)
    services_filter = ServiceFilter(request.GET, queryset=queryset, request=request)
    context = {
        "filter": services_filter,
        **_page(request, services_filter.qs.order_by("-created_at", "-id")),
    }
    return render(request, "endpoint_services/service_list.html", context)


@login_required
@require_GET
def unmanaged_list(request: HttpRequest):
    context = {**_page(request, unmanaged_services(request.user)), "unmanaged": True}
    return render(request, "endpoint_services/service_list.html", context)


CONNECTIONS_PAGE = 50
ALLOW_LIST_PAGE = 50


def _part(request, name, rows_count, size):
    """The page `name` asks for of a list of `rows_count` rows: (offset, page, pages)."""
    pages = max(1, -(-rows_count // size))
    number = min(page_number(request, name), pages)
    return (number - 1) * size, number, pages


def _connections(request, service):
    """One page of the service's connections, waiting ones first, with their access request."""
    queryset = service.connections.filter(gone=False)
    count = queryset.count()
    offset, number, pages = _part(request, "cpage", count, CONNECTIONS_PAGE)
    rows = list(connections_listed(service)[offset : offset + CONNECTIONS_PAGE])
    names = teams.account_names()
    for row in rows:
        row.admitted = connections.admitted(service, row)
        row.account_name = names.get(row.endpoint_owner_id, "")
    in_flight = queryset.filter(Q(status__in=CONNECTION_IN_FLIGHT) | ~Q(pending_action="")).exists()
    return {"rows": rows, "count": count, "page": number, "pages": pages, "in_flight": in_flight}


def _allow_list(request, service):
    """One page of the allow-list (as last read), each entry with the request that asked for it;
    an entry no applied access request explains was added outside the portal."""
    accounts = sorted(service.allowed_users)
    offset, number, pages = _part(request, "apage", len(accounts), ALLOW_LIST_PAGE)
    shown = accounts[offset : offset + ALLOW_LIST_PAGE]
    asked = access_requests_by_account(service, shown)
    names = teams.account_names()
    entries = {}
    for entry in service.allow_entries:
        entries.setdefault(entry["account"], []).append(entry.get("user_arn") or "UserId")
    return {
        # (account, the request that asked for it, its name in the company, its entries)
        "rows": [
            (account, asked.get(account), names.get(account, ""), entries.get(account, []))
            for account in shown
        ],
        "count": len(accounts),
        "page": number,
        "pages": pages,
    }


def _live_context(request, service, **extra):
    user = request.user
    requests = list(service_requests_listed(service)[:20])
    insider = keepers.sees_consumers(user, service)
    connections = _connections(request, service) if insider else None
    busy = (
        service.in_flight
        or any(r.state in FOLLOWED_STATES for r in requests)
        or bool(connections and connections["in_flight"])
    )
    return {
        "service": service,
        # Who asks what of a service, and which accounts may connect, is for its keepers.
        "insider": insider,
        "requests": requests if insider else [],
        "connections": connections,
        "allow_list": _allow_list(request, service) if insider else None,
        "access_refusal": policy.access_refusal(user, service),
        "revoke_refusal": policy.revoke_refusal(user, service),
        "snippets": _snippets(service),
        "poll": busy,
        "token": _token(service),
        "is_owner": keepers.owns(user, service),
        "change_refusal": policy.change_refusal(user, service),
        "adoption_refusal": policy.adoption_refusal(user, service),
        "transfer_refusal": policy.transfer_refusal(user, service),
        "may_manage": keepers.may_manage(user, service),
        "events": list(service_events_listed(service)[:50]),
        "csrf_token": SimpleLazyObject(lambda: get_token(request)),
        **extra,
    }


def _snippets(service):
    """How a consumer connects to this service, filled in: Terraform and the aliyun CLI."""
    if not service.service_name:
        return None
    zones = service.zones or ["<zone-id>"]
    zone_blocks = "".join(
        f'\n\nresource "alicloud_privatelink_vpc_endpoint_zone" "zone_{i + 1}" {{\n'
        f"  endpoint_id = alicloud_privatelink_vpc_endpoint.this.id\n"
        f'  zone_id     = "{zone}"\n'
        f'  vswitch_id  = "<vsw-in-{zone}>"\n'
        f"}}"
        for i, zone in enumerate(zones)
    )
    terraform = (
        f'resource "alicloud_privatelink_vpc_endpoint" "this" {{\n'
        f'  service_name       = "{service.service_name}"\n'
        f'  vpc_id             = "<your-vpc-id>"\n'
        f'  security_group_ids = ["<your-sg-id>"]\n'
        f'  vpc_endpoint_name  = "to-{service.service_id}"\n'
        f"}}{zone_blocks}"
    )
    zone_args = " ".join(
        f"--Zone.{i + 1}.ZoneId {zone} --Zone.{i + 1}.VSwitchId <vsw-in-{zone}>"
        for i, zone in enumerate(zones)
    )
    cli = (
        f"aliyun privatelink CreateVpcEndpoint --RegionId {service.region_id} "
        f"--ServiceName {service.service_name} --VpcId <your-vpc-id> "
        f"--SecurityGroupId.1 <your-sg-id> {zone_args}"
    )
    return {"terraform": terraform, "cli": cli}


def _token(service):
    """What a poll compares: the service's version and its requests' newest version (the
    connections' changes bump the service's version)."""
    newest = service.requests.aggregate(newest=Max("version"))["newest"] or 0
    return f"{service.version}-{newest}"


def _read_connections(request, service, *, max_age):
    """Bring the connections up to date for a keeper's page (a shared, rate-limited reading)."""
    if not service.managed or service.status == ServiceStatus.DELETED:
        return service
    if not service.allowed_users and service.connections_read_at is None:
        # Nobody else may connect: nothing to read until an account is let in (or Refresh).
        return service
    if not keepers.sees_consumers(request.user, service):
        return service
    read, problem = connections.connections_read_quietly(service, max_age=max_age)
    if problem and not request.htmx:
        messages.warning(request, f"The connections shown are from an earlier reading: {problem}")
    return service_for_user(request.user, service.service_id) if read else service


@login_required
@require_GET
def service_detail(request: HttpRequest, service_id):
    service = service_for_user(request.user, service_id)
    if request.htmx:
        return _status_response(request, service)
    service = _read_connections(request, service, max_age=settings.CONNECTIONS_MAX_AGE)
    return render(request, "endpoint_services/service_detail.html", _live_context(request, service))


def _status_response(request, service):
    context = _live_context(request, service, oob=True)
    html = render_to_string("endpoint_services/service_detail.html#live", context)
    if not context["poll"]:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@login_required
@require_GET
def service_status(request: HttpRequest, service_id):
    service = service_for_user(request.user, service_id)
    following = service.connections.filter(
        Q(status__in=CONNECTION_IN_FLIGHT) | ~Q(pending_action=""), gone=False
    ).exists()
    if following:
        # A connection being accepted or rejected: the cloud is read (at most every few
        # seconds for all who watch) until it settles.
        service = _read_connections(request, service, max_age=settings.CONNECTIONS_FOLLOW_EVERY)
    if request.GET.get("v") == _token(service) and (
        following
        or service.in_flight
        or service.requests.filter(state__in=FOLLOWED_STATES).exists()
    ):
        return HttpResponse(status=204)
    return _status_response(request, service)


def _decide_connection(request, service_id, endpoint_id, *, accept):
    service = service_to_manage(request.user, service_id, to="decide connections")
    if (refused := cloud_budget_refusal(request, service.get_absolute_url())) is not None:
        return refused
    connected = service.connections.filter(endpoint_id=endpoint_id, status="Connected").exists()
    try:
        connection = connections.connection_decide(
            service=service, endpoint_id=endpoint_id, actor=request.user, accept=accept
        )
    except connections.ConnectionRefused as error:
        messages.error(request, str(error))
        status = 409
    else:
        endpoint = connection.endpoint_id
        if accept:
            said = f"Accepting {endpoint}: the cloud connects it now; this page follows it."
        elif connected:
            said = f"Disconnecting {endpoint}: the cloud disconnects it now; this page follows it."
        else:
            said = f"Turned down {endpoint}: it stays disconnected, and no longer waits."
        messages.success(request, said)
        status = 200
    if request.htmx or status == 409:
        service.refresh_from_db()
        context = _live_context(request, service)
        return render(request, "endpoint_services/service_detail.html", context, status=status)
    return redirect(f"{service.get_absolute_url()}#connections")


@login_required
@require_POST
def connection_accept(request: HttpRequest, service_id, endpoint_id):
    return _decide_connection(request, service_id, endpoint_id, accept=True)


@login_required
@require_POST
def connection_reject(request: HttpRequest, service_id, endpoint_id):
    return _decide_connection(request, service_id, endpoint_id, accept=False)


@login_required
@require_POST
def service_refresh(request: HttpRequest, service_id):
    service = service_to_manage(request.user, service_id, to="refresh it")
    if (refused := cloud_budget_refusal(request, service.get_absolute_url())) is not None:
        return refused
    try:
        service = connections.endpoint_service_refresh_with_connections(
            pk=service.pk, actor=request.user
        )
    except cloud.CloudError as error:
        messages.error(request, f"Not refreshed: {error.message}")
    else:
        if service.drifted:
            messages.warning(
                request, "Refreshed: the service differs from what the portal approved."
            )
        else:
            messages.success(request, "Refreshed: the service is as the portal approved it.")
    return redirect(service)


@login_required
@require_POST
def service_accept_drift(request: HttpRequest, service_id):
    service = service_to_manage(request.user, service_id, to="accept drift")
    try:
        services.endpoint_service_accept_drift(pk=service.pk, actor=request.user)
    except services.ServiceRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The cloud's state is now the state the portal stands behind.")
    return redirect(service)
