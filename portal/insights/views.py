from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from portal.accounts import rights
from portal.endpoint_services.models import ServiceStatus
from portal.http import HttpRequest
from portal.insights import figures
from portal.insights.forms import DEFAULT_WEEKS, RangeForm

LEAD_TIMES = {
    "decision": "Submission to decision",
    "delivery": "Approval to active or applied",
}


@login_required
@require_GET
def dashboard(request: HttpRequest):
    if not rights.sees_insights(request.user):
        raise PermissionDenied("Insights are for approvers, auditors and administrators.")
    form = RangeForm(request.GET or None, today=timezone.localdate())
    context = {"form": form, "default_weeks": DEFAULT_WEEKS}
    if not form.is_bound or form.is_valid():
        start, end = form.range()
        context |= {
            "weeks": figures.week_bounds(start, end),
            "kept_seconds": settings.INSIGHTS_CACHE_SECONDS,
            "kept": _kept(settings.INSIGHTS_CACHE_SECONDS),
            # Computed only when the page's cached figures are missing or stale.
            "shown": SimpleLazyObject(lambda: _shown(figures.kept(start=start, end=end))),
        }
    return render(request, "insights/dashboard.html", context)


def _shown(found):
    lead_times = _lead_times(found["lead_times"])
    return {
        "found": found,
        "lead_times": lead_times,
        "charts": _charts(found, lead_times),
        "outcomes": [label for _key, label, _states in figures.OUTCOMES],
        "statuses": ServiceStatus.labels,
    }


def _lead_times(weeks_by_series):
    """Each lead time's rows, in words for the tables and in one unit for the chart."""
    shown = {}
    for name, weeks in weeks_by_series.items():
        longest = max((row[0.9] or 0 for row in weeks), default=0)
        unit, per = ("hours", 3600) if longest >= 2 * 3600 else ("minutes", 60)
        shown[name] = {
            "title": LEAD_TIMES[name],
            "unit": unit,
            "rows": [
                {
                    "week": row["week"],
                    "n": row["n"],
                    "p50": _duration(row[0.5]),
                    "p90": _duration(row[0.9]),
                    "chart": [
                        None if row[p] is None else round(row[p] / per, 2) for p in (0.5, 0.9)
                    ],
                }
                for row in weeks
            ],
        }
    return shown


def _kept(seconds):
    if not seconds:
        return ""
    if seconds % 60:
        return f"{seconds} seconds"
    return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"


def _duration(seconds):
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _charts(found, lead_times):
    """What static/js/insights.js draws: labels and series, each series keyed for its colour."""

    def columns(rows, names):
        return [
            {"key": key, "label": label, "data": [row["counts"][i] for row in rows]}
            for i, (key, label) in enumerate(names)
        ]

    weeks = [row["week"].isoformat() for row in found["outcomes"]]
    charts = {
        "outcomes": {
            "labels": weeks,
            "series": columns(
                found["outcomes"], [(key, label) for key, label, _states in figures.OUTCOMES]
            ),
        },
        "pending": {
            "labels": [label for label, _n in found["pending"]],
            "series": [
                {"key": "waiting", "label": "Requests", "data": [n for _l, n in found["pending"]]}
            ],
        },
        "failures": {
            "labels": [code for code, _n in found["failures"]],
            "series": [
                {"key": "failed", "label": "Requests", "data": [n for _c, n in found["failures"]]}
            ],
        },
        "services": {
            "labels": [row["region"] for row in found["services"]],
            "series": columns(found["services"], ServiceStatus.choices),
        },
    }
    for name, shown in lead_times.items():
        charts[name] = {
            "labels": weeks,
            "unit": shown["unit"],
            "series": [
                {"key": key, "label": label, "data": [row["chart"][i] for row in shown["rows"]]}
                for i, (key, label) in enumerate([("p50", "median (p50)"), ("p90", "p90")])
            ],
        }
    return charts
