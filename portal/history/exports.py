"""The auditors' exports of the filtered history, CSV and JSON Lines, streamed: shared by
the history page's links and the API."""

import csv
import io
from collections import defaultdict
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import CharField, Func
from django.http import StreamingHttpResponse

from portal.service_requests.models import Approval, RequestResource, RequestTag

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


# A cell a spreadsheet would read as a formula starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(row):
    """Keep each cell of a row from being read as a formula by spreadsheet software."""
    return [
        "'" + value if value.__class__ is str and value.startswith(FORMULA_STARTS) else value
        for value in row
    ]


def csv_response(queryset):
    """Stream `queryset`'s requests as CSV, a chunk at a time, with a header row."""

    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for chunk in export_chunks(queryset):
            writer.writerows(_spreadsheet_safe(row) for row in chunk)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="privatelink-requests.csv"'
    return response


def jsonl_response(queryset):
    """Stream `queryset`'s requests as JSON Lines, one object a request."""
    encoder = DjangoJSONEncoder(ensure_ascii=False)

    def lines():
        for chunk in export_chunks(queryset):
            text = "".join(
                encoder.encode(dict(zip(EXPORT_COLUMNS, row, strict=True))) + "\n" for row in chunk
            )
            # Valid JSON, but a line break to JavaScript and to many line readers: escape.
            yield text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="privatelink-requests.jsonl"'
    return response
