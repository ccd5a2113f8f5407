from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from portal.cloud import services as cloud
from portal.endpoint_services import services
from portal.endpoint_services.filters import ServiceFilter
from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.endpoint_services.selectors import service_for_user
from portal.http import HttpRequest
from portal.lib.limits import cloud_budget_spent, too_many
from portal.lib.paging import page_number
from portal.service_requests import policy
from portal.service_requests.models import LIVE_STATES, State

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
    queryset = EndpointService.objects.filter(managed=True).select_related("owner")
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
    if not (policy.is_approver(request.user) or policy.is_auditor(request.user)):
        raise PermissionDenied("Unmanaged services are for approvers and admins.")
    queryset = (
        EndpointService.objects.filter(managed=False)
        .exclude(status=ServiceStatus.DELETED)
        .order_by("region_id", "service_id")
    )
    context = {**_page(request, queryset), "unmanaged": True}
    return render(request, "endpoint_services/service_list.html", context)


def _live_context(request, service, **extra):
    user = request.user
    requests = list(
        service.requests.select_related("requester").order_by("-created_at", "-id")[:20]
    )
    busy = service.in_flight or any(r.state in FOLLOWED_STATES for r in requests)
    insider = policy.may_manage(user, service) or policy.is_auditor(user)
    return {
        "service": service,
        # Who asks what of a service, and which accounts may connect, is for its keepers.
        "insider": insider,
        "requests": requests if insider else [],
        "poll": busy,
        "token": _token(service),
        "is_owner": policy.owns(user, service),
        "change_refusal": policy.change_refusal(user, service),
        "adoption_refusal": policy.adoption_refusal(user, service),
        "may_manage": policy.may_manage(user, service),
        "events": list(
            service.events.filter(request__isnull=True)
            .select_related("actor")
            .order_by("-created_at", "-id")[:50]
        ),
        "csrf_token": SimpleLazyObject(lambda: get_token(request)),
        **extra,
    }


def _token(service):
    """What a poll compares: the service's version and its requests' newest version."""
    newest = service.requests.aggregate(newest=Max("version"))["newest"] or 0
    return f"{service.version}-{newest}"


@login_required
@require_GET
def service_detail(request: HttpRequest, service_id):
    service = service_for_user(request.user, service_id)
    if request.htmx:
        return _status_response(request, service)
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
    if request.GET.get("v") == _token(service) and (
        service.in_flight or service.requests.filter(state__in=FOLLOWED_STATES).exists()
    ):
        return HttpResponse(status=204)
    return _status_response(request, service)


@login_required
@require_POST
def service_refresh(request: HttpRequest, service_id):
    service = service_for_user(request.user, service_id)
    if not policy.may_manage(request.user, service):
        raise PermissionDenied("Only the service's owner and approvers can refresh it.")
    if cloud_budget_spent(request):
        return too_many(request, service.get_absolute_url())
    try:
        service = services.endpoint_service_refresh(pk=service.pk, actor=request.user)
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
    service = service_for_user(request.user, service_id)
    if not policy.may_manage(request.user, service):
        raise PermissionDenied("Only the service's owner and approvers can accept drift.")
    try:
        services.endpoint_service_accept_drift(pk=service.pk, actor=request.user)
    except services.ServiceRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The cloud's state is now the state the portal stands behind.")
    return redirect(service)
