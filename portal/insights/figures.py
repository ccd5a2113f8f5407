"""The insights' figures, each from one aggregated query: no request is loaded into Python.

Per week means per week starting Monday, in the portal's time zone (`WeekStart`). Lead-time
percentiles are PostgreSQL's `percentile_cont` (linear interpolation between the two nearest
ranks). SQLite, the embedded development database, has no such aggregate: there the lead
times' query returns the durations alone (two floats per decision in the range) and the same
interpolation is done here. (A window query that returns only the ranks around each
percentile was tried: it returns 4 rows a week but cost SQLite five times the CPU.)
"""

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DateField,
    F,
    FloatField,
    Func,
    Q,
    When,
)
from django.utils import timezone

from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.service_requests.models import ServiceRequest, State

# What became of the requests created in a week, in the order the stacked bars show it.
OUTCOMES = [
    ("done", "Active or applied", (State.ACTIVE, State.APPLIED)),
    (
        "in_progress",
        "Approved, in the cloud",
        (State.APPROVED, State.PROVISIONING, State.CREATING, State.APPLYING),
    ),
    (
        "waiting",
        "Waiting for a decision or edits",
        (State.PENDING_APPROVAL, State.CHANGES_REQUESTED),
    ),
    ("rejected", "Rejected", (State.REJECTED,)),
    ("cancelled", "Cancelled", (State.CANCELLED,)),
    ("failed", "Failed", (State.FAILED,)),
    ("draft", "Draft", (State.DRAFT,)),
]
DONE = (State.ACTIVE, State.APPLIED)
PERCENTILES = (0.5, 0.9)
# (label, waiting at least, less than) since the last submission.
AGE_BUCKETS = [
    ("Under a day", timedelta(0), timedelta(days=1)),
    ("1 to 3 days", timedelta(days=1), timedelta(days=3)),
    ("3 to 7 days", timedelta(days=3), timedelta(days=7)),
    ("1 to 2 weeks", timedelta(days=7), timedelta(days=14)),
    ("Over 2 weeks", timedelta(days=14), None),
]
# The failure chart names this many codes; the rest are summed as "other codes".
FAILURE_CODES_SHOWN = 12


class WeekStart(Func):
    """The date of the Monday that starts the week of a datetime, in the current time zone.

    Django's TruncWeek calls a Python function for every row on SQLite; this is SQLite's own
    date(), shifted by the zone's UTC offset of today (exact in UTC, the default; a zone with
    summer time can put a request made within an hour of midnight on Monday in the next or
    previous week).
    """

    output_field = DateField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        zone = timezone.get_current_timezone_name()
        return f"(DATE_TRUNC('week', {sql} AT TIME ZONE %s))::date", (*params, zone)

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        offset = timezone.localtime().utcoffset().total_seconds()
        return f"date({sql}, %s, '-6 days', 'weekday 1')", (*params, f"{offset:+.0f} seconds")


class Seconds(Func):
    """The seconds from `start` to `end`, as a float (NULL if either is NULL)."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "

    def __init__(self, end, start):
        super().__init__(end, start)

    def as_sqlite(self, compiler, connection, **extra):
        # Django keeps datetimes as ISO text in UTC on SQLite; julianday() reads it.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression); NULLs skipped."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)r) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def figures(*, start, end):
    """Every figure for the weeks from the one of `start` to the one of `end` (dates), as of
    now (the page keeps them, rendered, for INSIGHTS_CACHE_SECONDS)."""
    since, until = week_bounds(start, end)
    now = timezone.now()
    return {
        "as_of": now,
        "since": since.date(),
        "until": (until - timedelta(days=1)).date(),
        "outcomes": outcomes_by_week(since, until),
        "lead_times": lead_times_by_week(since, until),
        "pending": pending_by_age(now),
        "failures": failures_by_code(since, until),
        "services": services_by_region(),
    }


def kept(*, start, end, refresh=False):
    """`figures()` for these weeks from the shared cache, computed when missing (or when
    `refresh`, as beat does for the default weeks before the page asks for them)."""
    since, until = week_bounds(start, end)
    key = f"insights-figures:{since.date()}:{until.date()}"
    found = None if refresh else cache.get(key)
    if found is None:
        found = figures(start=start, end=end)
        cache.set(key, found, settings.INSIGHTS_CACHE_SECONDS)
    return found


def refresh_default():
    """Compute the default weeks' figures ahead of the page (beat, every half of the time
    they are kept), so nobody waits for the aggregates of the page everyone opens."""
    from portal.insights.forms import RangeForm

    start, end = RangeForm(today=timezone.localdate()).range()
    return kept(start=start, end=end, refresh=True)


def week_bounds(start, end):
    """Return the aware datetimes from the Monday of `start` to the Monday after `end`."""
    first = start - timedelta(days=start.weekday())
    after = end - timedelta(days=end.weekday()) + timedelta(days=7)
    zone = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(first, time.min), zone),
        timezone.make_aware(datetime.combine(after, time.min), zone),
    )


def _weeks(since, until):
    weeks, day = [], since.date()
    while day < until.date():
        weeks.append(day)
        day += timedelta(days=7)
    return weeks


def outcomes_by_week(since, until):
    """Requests created each week, counted by what became of them."""
    rows = (
        ServiceRequest.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(week=WeekStart("created_at"))
        .values("week")
        .annotate(
            **{key: Count("pk", filter=Q(state__in=states)) for key, _label, states in OUTCOMES}
        )
        .order_by()
    )
    counted = {row.pop("week"): row for row in rows}
    rows = []
    for week in _weeks(since, until):
        counts = [counted.get(week, {}).get(key, 0) for key, _label, _states in OUTCOMES]
        rows.append({"week": week, "counts": counts, "total": sum(counts)})
    return rows


def lead_times_by_week(since, until):
    """p50 and p90, in seconds, by the week of the decision, of two lead times:

    - decision: from the last submission to the decision (approval, rejection or send-back);
    - delivery: from the approval to active or applied, for requests that got there.

    Each request counts once, with its last submission and decision (a request sent back
    and resubmitted counts with its latest round).
    """
    decided = ServiceRequest.objects.filter(
        decided_at__gte=since, decided_at__lt=until, submitted_at__lte=F("decided_at")
    ).order_by()
    series = {
        "decision": Seconds("decided_at", "submitted_at"),
        "delivery": Case(
            When(
                state__in=DONE,
                state_changed_at__gte=F("decided_at"),
                then=Seconds("state_changed_at", "decided_at"),
            )
        ),
    }
    if connection.vendor == "postgresql":
        found = _percentiles_aggregated(decided, series)
    else:
        found = _percentiles_listed(decided, series)
    empty = {"n": 0, **{p: None for p in PERCENTILES}}
    return {
        name: [
            {"week": week, **found.get(name, {}).get(week, empty)} for week in _weeks(since, until)
        ]
        for name in series
    }


def _percentiles_aggregated(queryset, series):
    aggregates = {}
    for name, value in series.items():
        aggregates[f"{name}_n"] = Count(value)
        for p in PERCENTILES:
            aggregates[f"{name}_{p}"] = PercentileCont(value, p)
    found = defaultdict(dict)
    rows = (
        queryset.annotate(week=WeekStart("decided_at"))
        .values("week")
        .annotate(**aggregates)
        .order_by()
    )
    for row in rows:
        week = row["week"]
        for name in series:
            found[name][week] = {
                "n": row[f"{name}_n"],
                **{p: row[f"{name}_{p}"] for p in PERCENTILES},
            }
    return found


def _percentiles_listed(queryset, series):
    """percentile_cont without the aggregate (SQLite): the durations alone, one row per
    decision in the range (at most about two years of them, as the range is), read from the
    covering index and interpolated here."""
    values = defaultdict(lambda: defaultdict(list))
    rows = queryset.annotate(week=WeekStart("decided_at"), **series).values_list("week", *series)
    # Read as SQLite gives them (the week as text, the seconds as floats): Django's converters,
    # a date parsed per row, cost more than the query itself.
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for day, *seconds in cursor:
            for name, value in zip(series, seconds, strict=True):
                if value is not None:
                    values[name][day].append(value)
    found = defaultdict(dict)
    for name, weeks in values.items():
        for day, durations in weeks.items():
            durations.sort()
            found[name][date.fromisoformat(day)] = {
                "n": len(durations),
                **{p: _between(durations, p * (len(durations) - 1)) for p in PERCENTILES},
            }
    return found


def _between(ordered, position):
    """Interpolate at `position` (0-based) in `ordered`, as percentile_cont does."""
    low = math.floor(position)
    above = ordered[min(low + 1, len(ordered) - 1)]
    return ordered[low] + (position - low) * (above - ordered[low])


def pending_by_age(now):
    """Requests waiting for approval now, by how long since their last submission."""
    counts = ServiceRequest.objects.filter(state=State.PENDING_APPROVAL).aggregate(
        **{
            str(n): Count(
                "pk",
                filter=(Q(submitted_at__lte=now - least) if least else Q())
                & (Q(submitted_at__gt=now - most) if most else Q()),
            )
            for n, (_label, least, most) in enumerate(AGE_BUCKETS)
        }
    )
    return [(label, counts[str(n)]) for n, (label, _least, _most) in enumerate(AGE_BUCKETS)]


def failures_by_code(since, until):
    """Requests that failed in the range (and are still failed), by the cloud's error code;
    the codes past the first FAILURE_CODES_SHOWN summed as one row."""
    rows = list(
        ServiceRequest.objects.filter(
            state=State.FAILED, state_changed_at__gte=since, state_changed_at__lt=until
        )
        .values_list("error_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_code")
    )
    shown = [(code or "(no code)", n) for code, n in rows[:FAILURE_CODES_SHOWN]]
    rest = sum(n for _code, n in rows[FAILURE_CODES_SHOWN:])
    return shown + ([("Other codes", rest)] if rest else [])


def services_by_region():
    """Every service record, by region, counted by status (in ServiceStatus's order)."""
    counted = defaultdict(dict)
    for region_id, status, n in (
        EndpointService.objects.values_list("region_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        counted[region_id][status] = n
    rows = []
    for region_id in sorted(counted):
        counts = [counted[region_id].get(status, 0) for status in ServiceStatus]
        rows.append({"region": region_id, "counts": counts, "total": sum(counts)})
    return rows
