import json
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from portal.cloud import services as cloud
from portal.history import access, exports
from portal.history.forms import AccessReviewForm
from portal.history.selectors import (
    decisions_of,
    history_ordered,
    request_for_auditor,
    request_history,
    require_auditor,
)
from portal.http import HttpRequest
from portal.lib.paging import page_number
from portal.service_requests.integrity import request_events_verify
from portal.service_requests.models import ServiceRequest

PAGE_SIZE = 50
COUNT_LIMIT = 1_000


@login_required
@require_GET
def history(request: HttpRequest):
    history = request_history(request.user, request.GET)
    history.form.fields["region_id"].widget.attrs["list"] = "region-options"
    regions, _warning = cloud.regions()
    # An invalid filter shows its error and no rows, rather than quietly every row.
    queryset = history_ordered(history) if history.is_valid() else ServiceRequest.objects.none()
    page = page_number(request)
    offset = (page - 1) * PAGE_SIZE
    rows = list(queryset.select_related("requester")[offset : offset + PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # A bounded count: exact up to COUNT_LIMIT; past it PostgreSQL's estimate, never a scan.
    count = queryset.order_by().values("pk")[: COUNT_LIMIT + 1].count()
    estimate = _estimate(queryset) if count > COUNT_LIMIT else None
    decisions_of(rows)
    params = request.GET.copy()
    params.pop("page", None)
    query = params.urlencode()
    context = {
        "filter": history,
        "rows": rows,
        "page": page,
        "has_next": has_next,
        "count": min(count, COUNT_LIMIT),
        "count_capped": count > COUNT_LIMIT,
        "estimate": estimate,
        "query": query,
        "regions": regions,
        # Inside the cached filter block: made only when the cache misses.
        "region_links": SimpleLazyObject(
            lambda: [(region_id, _with(params, region_id=region_id)) for region_id, _ in regions]
        ),
        "quick_links": SimpleLazyObject(_quick_links),
        "today": timezone.localdate().isoformat(),
        "regions_version": ",".join(region_id for region_id, _name in regions),
        # Rows link by prefix: fifty reverse() calls a page cost more than the rest of a row.
        "timeline_url": reverse("history:timeline", args=[0]).removesuffix("0/"),
        "services_url": reverse("endpoint_services:list"),
    }
    return render(request, "history/request_list.html", context)


def _estimate(queryset):
    """Return the planner's row estimate for a large result (PostgreSQL), else None."""
    if connection.vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return max(int(plan[0]["Plan"]["Plan Rows"]), COUNT_LIMIT + 1)


def _with(params, **changes):
    merged = params.copy()
    for key, value in changes.items():
        merged[key] = value
    return merged.urlencode()


def _quick_links():
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    return [
        (
            "Failed yesterday",
            urlencode({"state": "failed", "created_after": yesterday, "created_before": yesterday}),
        ),
        ("Failed today", urlencode({"state": "failed", "created_after": today})),
        ("Live now", urlencode([("state", s) for s in ("approved", "provisioning", "creating")])),
        ("Pending approval", urlencode({"state": "pending_approval"})),
        ("Active", urlencode({"state": "active"})),
    ]


@login_required
@require_GET
def timeline(request: HttpRequest, pk):
    service_request = request_for_auditor(request.user, pk)
    context = {
        "service_request": service_request,
        "events": list(service_request.events.select_related("actor")),
        "resources": list(service_request.resources.all()),
        "tags": list(service_request.tags.all()),
        "approvals": list(service_request.approvals.select_related("approver")),
        "plan": list(service_request.operations.all()),
        "chain": request_events_verify(service_request),
    }
    return render(request, "history/request_timeline.html", context)


def _refusal(history):
    """A 400 that says which filter is wrong: an export never widens to everything."""
    problems = "; ".join(
        f"{name}: {' '.join(errors)}" for name, errors in history.form.errors.items()
    )
    return HttpResponseBadRequest(
        f"Not exported: {problems}\n", content_type="text/plain; charset=utf-8"
    )


@login_required
@require_GET
def export_csv(request: HttpRequest):
    history = request_history(request.user, request.GET)
    if not history.is_valid():
        return _refusal(history)
    return exports.csv_response(history.qs)


@login_required
@require_GET
def export_jsonl(request: HttpRequest):
    history = request_history(request.user, request.GET)
    if not history.is_valid():
        return _refusal(history)
    return exports.jsonl_response(history.qs)


@login_required
@require_GET
def access_review(request: HttpRequest):
    """Who held which right at the end of a day (today by default), from the sealed log."""
    require_auditor(request.user)
    form = AccessReviewForm(request.GET or None)
    review = access.access_review(form.moment()) if form.is_valid() or not request.GET else None
    status = 200 if review is not None else 400
    if review is not None and request.GET.get("format") == "csv":
        response = HttpResponse(access.review_csv(review), content_type="text/csv; charset=utf-8")
        day = review.at.date().isoformat()
        response["Content-Disposition"] = f'attachment; filename="access-review-{day}.csv"'
        return response
    context = {"form": form, "review": review, "query": request.GET.urlencode()}
    return render(request, "history/access_review.html", context, status=status)
