import csv
import io
import json
from collections import defaultdict
from datetime import UTC, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import CharField, Func
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from portal.audit.filters import RequestHistoryFilter
from portal.audit.selectors import request_for_auditor, require_auditor
from portal.audit.services import request_events_verify
from portal.cloud import services as cloud
from portal.http import HttpRequest
from portal.lib.paging import page_number
from portal.service_requests.models import Approval, RequestResource, RequestTag, ServiceRequest

PAGE_SIZE = 50
COUNT_LIMIT = 1_000
EXPORT_CHUNK = 2_000
# The export's columns, in order; documented in the README. Do not rename: scripts rely on them.
EXPORT_COLUMNS = [
    "id",
    "created_at",
    "submitted_at",
    "decided_at",
    "state",
    "requester",
    "region_id",
    "service_description",
    "service_resource_type",
    "address_ip_version",
    "payer",
    "auto_accept_enabled",
    "zone_affinity_enabled",
    "resource_group_id",
    "supported_regions",
    "resources",
    "tags",
    "approvers",
    "service_id",
    "service_name",
    "service_domain",
    "cloud_request_id",
    "error_code",
    "error_message",
    "client_token",
    "justification",
    "kind",
]
ROW_FIELDS = [
    "id",
    "created_at",
    "submitted_at",
    "decided_at",
    "state",
    "requester__username",
    "region_id",
    "service_description",
    "service_resource_type",
    "address_ip_version",
    "payer",
    "auto_accept_enabled",
    "zone_affinity_enabled",
    "resource_group_id",
    "supported_region_list",
    "service_id",
    "service_name",
    "service_domain",
    "cloud_request_id",
    "error_code",
    "error_message",
    "client_token",
    "justification",
    "kind",
]


def _filtered(request):
    regions, _warning = cloud.regions()
    history = RequestHistoryFilter(request.GET, queryset=ServiceRequest.objects.all())
    history.form.fields["region_id"].widget.attrs["list"] = "region-options"
    return history, regions


@login_required
@require_GET
def history(request: HttpRequest):
    require_auditor(request.user)
    history, regions = _filtered(request)
    # An invalid filter shows its error and no rows, rather than quietly every row.
    queryset = history.qs if history.is_valid() else ServiceRequest.objects.none()
    if not queryset.query.order_by:
        queryset = queryset.order_by("-created_at", "-id")
    page = page_number(request)
    offset = (page - 1) * PAGE_SIZE
    rows = list(queryset.select_related("requester")[offset : offset + PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # A bounded count: exact up to COUNT_LIMIT; past it PostgreSQL's estimate, never a scan.
    count = queryset.order_by().values("pk")[: COUNT_LIMIT + 1].count()
    estimate = _estimate(queryset) if count > COUNT_LIMIT else None
    deciders = defaultdict(list)
    for approval in Approval.objects.filter(request__in=[r.pk for r in rows]).select_related(
        "approver"
    ):
        deciders[approval.request_id].append(approval)
    for row in rows:
        row.decisions = deciders[row.pk]
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
        "timeline_url": reverse("audit:timeline", args=[0]).removesuffix("0/"),
        "services_url": reverse("endpoint_services:list"),
    }
    return render(request, "audit/request_list.html", context)


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
    return render(request, "audit/request_timeline.html", context)


class Rfc3339(Func):
    """A timestamp column as the export writes it (2026-11-26T01:02:03Z), formatted by the
    database: no datetime object per cell, made and formatted again in Python."""

    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        # Stored as UTC text; '%%%%' survives both the template and the backend's '%' pass.
        template = "strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        return self.as_sql(compiler, connection, template=template, **extra)


TIME_FIELDS = ("created_at", "submitted_at", "decided_at")


def _export_rows(queryset):
    """`queryset`'s rows in ROW_FIELDS order, timestamps already written as RFC 3339 where
    the database can (SQLite, PostgreSQL), else as datetimes for rfc3339()."""
    if connection.vendor not in ("sqlite", "postgresql"):
        return queryset.values_list(*ROW_FIELDS)
    written = {f"{name}_written": Rfc3339(name) for name in TIME_FIELDS}
    fields = [f"{name}_written" if name in TIME_FIELDS else name for name in ROW_FIELDS]
    return queryset.annotate(**written).values_list(*fields)


def export_chunks(queryset):
    """Yield the filtered requests in id order, a chunk at a time: lists of tuples in
    EXPORT_COLUMNS order.

    Memory stays constant: each chunk's resources, tags and decisions come in one query each,
    and a chunk is written out whole, not a row at a time.
    """
    queryset = queryset.order_by("id")
    last = 0
    while True:
        chunk = list(_export_rows(queryset.filter(id__gt=last))[:EXPORT_CHUNK])
        if not chunk:
            return
        first, last = chunk[0][0], chunk[-1][0]
        between = {"request_id__gte": first, "request_id__lte": last}
        resources, tags, approvers = defaultdict(list), defaultdict(list), defaultdict(list)
        for request_id, kind, resource_id, zone in (
            RequestResource.objects.filter(**between)
            .order_by("request_id", "position", "id")
            .values_list("request_id", "resource_type", "resource_id", "zone_id")
        ):
            resources[request_id].append(
                f"{kind}:{resource_id}@{zone}" if zone else f"{kind}:{resource_id}"
            )
        for request_id, key, value in (
            RequestTag.objects.filter(**between)
            .order_by("request_id", "position", "id")
            .values_list("request_id", "key", "value")
        ):
            tags[request_id].append(f"{key}={value}")
        for request_id, username, decision in (
            Approval.objects.filter(**between)
            .order_by("request_id", "created_at", "id")
            .values_list("request_id", "approver__username", "decision")
        ):
            approvers[request_id].append(f"{username}:{decision}")
        yield [
            (
                pk,
                rfc3339(created),
                rfc3339(submitted),
                rfc3339(decided),
                state,
                requester,
                region,
                description,
                resource_type,
                ip_version,
                payer,
                auto_accept,
                zone_affinity,
                resource_group,
                ";".join(regions or ()),
                ";".join(resources[pk]),
                ";".join(tags[pk]),
                ";".join(approvers[pk]),
                service_id,
                service_name,
                service_domain,
                cloud_request_id,
                error_code,
                error_message,
                client_token,
                justification,
                kind,
            )
            for (
                pk,
                created,
                submitted,
                decided,
                state,
                requester,
                region,
                description,
                resource_type,
                ip_version,
                payer,
                auto_accept,
                zone_affinity,
                resource_group,
                regions,
                service_id,
                service_name,
                service_domain,
                cloud_request_id,
                error_code,
                error_message,
                client_token,
                justification,
                kind,
            ) in chunk
        ]


def rfc3339(moment):
    """Every export writes time one way: RFC 3339, in UTC, to the second (2026-11-26T01:02:03Z)."""
    if moment is None or isinstance(moment, str):  # None, or written by the database
        return moment
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def _refusal(history):
    """A 400 that says which filter is wrong: an export never widens to everything."""
    problems = "; ".join(
        f"{name}: {' '.join(errors)}" for name, errors in history.form.errors.items()
    )
    return HttpResponseBadRequest(
        f"Not exported: {problems}\n", content_type="text/plain; charset=utf-8"
    )


# A cell a spreadsheet would read as a formula starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(row):
    """Keep each cell of a row from being read as a formula by spreadsheet software."""
    return [
        "'" + value if value.__class__ is str and value.startswith(FORMULA_STARTS) else value
        for value in row
    ]


@login_required
@require_GET
def export_csv(request: HttpRequest):
    require_auditor(request.user)
    history, _regions = _filtered(request)
    if not history.is_valid():
        return _refusal(history)

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for chunk in export_chunks(history.qs):
            writer.writerows(_spreadsheet_safe(row) for row in chunk)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="privatelink-requests.csv"'
    return response


@login_required
@require_GET
def export_jsonl(request: HttpRequest):
    require_auditor(request.user)
    history, _regions = _filtered(request)
    if not history.is_valid():
        return _refusal(history)
    encoder = DjangoJSONEncoder(ensure_ascii=False)

    def lines():
        for chunk in export_chunks(history.qs):
            text = "".join(
                encoder.encode(dict(zip(EXPORT_COLUMNS, row, strict=True))) + "\n" for row in chunk
            )
            # Valid JSON, but a line break to JavaScript and to many line readers: escape.
            yield text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="privatelink-requests.jsonl"'
    return response
