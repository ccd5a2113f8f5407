"""The insights page: each figure on a small history whose answers are worked out by hand."""

import json
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.endpoint_services.models import EndpointService
from portal.insights import figures
from portal.insights.forms import RangeForm
from portal.insights.tasks import refresh_insights
from portal.service_requests.models import Kind, ServiceRequest, State
from tests.support.factories import ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db

# The two weeks the known history is about, Monday 2025-03-03 to Sunday 2025-03-16.
RANGE = {"start": "2025-03-03", "end": "2025-03-16"}
WEEK_A, WEEK_B = date(2025, 3, 3), date(2025, 3, 10)
HOUR, MINUTE = 3600.0, 60.0


def at(day, hour=0, minute=0):
    return datetime(2025, day[0], day[1], hour, minute, tzinfo=UTC)


def made(requester, state, created, *, submitted=None, decided=None, changed=None, **fields):
    """A request with its times set as its life would have set them."""
    request = ServiceRequestFactory(requester=requester, state=state, **fields)
    ServiceRequest.objects.filter(pk=request.pk).update(
        created_at=created,
        submitted_at=submitted,
        decided_at=decided,
        state_changed_at=changed or decided or submitted or created,
    )
    return request


@pytest.fixture
def history(requester):
    """Thirteen requests in and around the two weeks, pending ones and four services."""
    a, b = (3, 4), (3, 11)  # a Tuesday in each week
    # Week A: decisions after 2 h, 4 h, 24 h and 1 h; deliveries after 10 and 30 min.
    made(requester, State.ACTIVE, at(a, 10), submitted=at(a, 10), decided=at(a, 12),
         changed=at(a, 12, 10))  # fmt: skip
    made(requester, State.ACTIVE, at(a, 10), submitted=at(a, 10), decided=at(a, 14),
         changed=at(a, 14, 30))  # fmt: skip
    made(requester, State.REJECTED, at(a, 10), submitted=at(a, 10), decided=at((3, 5), 10))
    made(requester, State.FAILED, at(a, 10), submitted=at(a, 10), decided=at(a, 11),
         changed=at(a, 11, 5), error_code="LoadBalancerNotFound")  # fmt: skip
    made(requester, State.CANCELLED, at(a, 9))
    made(requester, State.DRAFT, at(a, 9))
    # Week B: decisions after 1 h, 30 min, 1 h and 2 h; a delivery after 2 min.
    made(requester, State.APPLIED, at(b, 8), submitted=at(b, 9), decided=at(b, 10),
         changed=at(b, 10, 2), kind=Kind.CHANGE)  # fmt: skip
    made(requester, State.CHANGES_REQUESTED, at(b, 8), submitted=at(b, 9),
         decided=at(b, 9, 30))  # fmt: skip
    made(requester, State.FAILED, at(b, 8), submitted=at(b, 8), decided=at(b, 9),
         changed=at(b, 9, 1), error_code="QuotaMisMatched")  # fmt: skip
    made(requester, State.FAILED, at(b, 8), submitted=at(b, 8), decided=at(b, 10),
         changed=at(b, 10, 1), error_code="LoadBalancerNotFound")  # fmt: skip
    # Created in week B, decided the week after: an outcome of B, no lead time of B.
    made(requester, State.CREATING, at(b, 8), submitted=at(b, 8), decided=at((3, 18), 8))
    # Before the two weeks: counted nowhere.
    made(requester, State.ACTIVE, at((2, 20)), submitted=at((2, 20)), decided=at((2, 21)),
         changed=at((2, 21), 1))  # fmt: skip
    made(requester, State.FAILED, at((1, 9)), submitted=at((1, 9)), decided=at((1, 10)),
         changed=at((1, 10), 1), error_code="Throttling")  # fmt: skip
    # Waiting now, since 2 h, 2 days, 10 days, and 30 days (two of them).
    now = timezone.now()
    for waited in (timedelta(hours=2), timedelta(days=2), timedelta(days=10), *[timedelta(30)] * 2):
        made(requester, State.PENDING_APPROVAL, now - waited, submitted=now - waited)
    for region_id, status in [
        ("cn-hangzhou", "active"),
        ("cn-hangzhou", "active"),
        ("cn-hangzhou", "deleted"),
        ("cn-shanghai", "creating"),
    ]:
        EndpointService.objects.create(
            service_id=f"epsrv-{EndpointService.objects.count():020d}",
            region_id=region_id,
            status=status,
            owner=requester,
        )


EXPECTED_OUTCOMES = [
    # done, in the cloud, waiting, rejected, cancelled, failed, draft
    {"week": WEEK_A, "counts": [2, 0, 0, 1, 1, 1, 1], "total": 6},
    {"week": WEEK_B, "counts": [1, 1, 1, 0, 0, 2, 0], "total": 5},
]
EXPECTED_LEAD_TIMES = {
    # 1, 2, 4, 24 h: p50 halfway from 2 h to 4 h; p90 70% of the way from 4 h to 24 h.
    # 30 min, 1 h, 1 h, 2 h: p50 1 h; p90 70% of the way from 1 h to 2 h.
    "decision": [
        {"week": WEEK_A, "n": 4, 0.5: 3 * HOUR, 0.9: 18 * HOUR},
        {"week": WEEK_B, "n": 4, 0.5: 1 * HOUR, 0.9: 1.7 * HOUR},
    ],
    # 10 and 30 min; 2 min alone.
    "delivery": [
        {"week": WEEK_A, "n": 2, 0.5: 20 * MINUTE, 0.9: 28 * MINUTE},
        {"week": WEEK_B, "n": 1, 0.5: 2 * MINUTE, 0.9: 2 * MINUTE},
    ],
}
EXPECTED_PENDING = [
    ("Under a day", 1),
    ("1 to 3 days", 1),
    ("3 to 7 days", 0),
    ("1 to 2 weeks", 1),
    ("Over 2 weeks", 2),
]
EXPECTED_FAILURES = [("LoadBalancerNotFound", 2), ("QuotaMisMatched", 1)]
EXPECTED_SERVICES = [
    # creating, active, pending, deleting, deleted
    {"region": "cn-hangzhou", "counts": [0, 2, 0, 0, 1], "total": 3},
    {"region": "cn-shanghai", "counts": [1, 0, 0, 0, 0], "total": 1},
]


def rounded(lead_times):
    return {
        name: [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in rows
        ]
        for name, rows in lead_times.items()
    }


def test_each_figure_of_a_known_history(login, approver, history):
    response = login(approver).get("/insights/", RANGE)
    assert response.status_code == 200
    found = response.context["shown"]["found"]
    assert (found["since"], found["until"]) == (WEEK_A, date(2025, 3, 16))
    assert found["outcomes"] == EXPECTED_OUTCOMES
    assert rounded(found["lead_times"]) == rounded(EXPECTED_LEAD_TIMES)
    assert found["pending"] == EXPECTED_PENDING
    assert found["failures"] == EXPECTED_FAILURES
    assert found["services"] == EXPECTED_SERVICES


def test_the_tables_say_what_the_charts_draw(login, auditor, history):
    page = login(auditor).get("/insights/", RANGE).content.decode()
    for table in ("outcomes", "decision", "delivery", "pending", "failures", "services"):
        assert f'<table id="{table}-table">' in page, table
    assert page.count("<caption>") == 6
    assert '<th scope="row">2025-03-03</th><td>2</td><td>0</td><td>0</td><td>1</td>' in page
    # The decision lead times of week A in words: p50 3 h, p90 18 h.
    assert '<th scope="row">2025-03-03</th><td>4</td><td>3.0 h</td><td>18.0 h</td>' in page
    assert '<th scope="row">2025-03-10</th><td>1</td><td>2 min</td><td>2 min</td>' in page
    assert '<th scope="row"><code>LoadBalancerNotFound</code></th><td>2</td>' in page
    start = page.index('<script id="insights-data" type="application/json">')
    charts = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    assert charts["outcomes"]["labels"] == ["2025-03-03", "2025-03-10"]
    assert charts["outcomes"]["series"][0] == {
        "key": "done",
        "label": "Active or applied",
        "data": [2, 1],
    }
    assert charts["decision"]["unit"] == "hours"
    assert charts["decision"]["series"][1]["data"] == [18.0, 1.7]
    assert charts["delivery"]["unit"] == "minutes"
    assert charts["delivery"]["series"][0]["data"] == [20.0, 2.0]
    assert charts["failures"]["series"][0]["data"] == [2, 1]
    assert charts["services"]["labels"] == ["cn-hangzhou", "cn-shanghai"]
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in page
    assert '<script src="/static/js/insights.js" defer></script>' in page


def _ranked_percentile(values, p):
    """percentile_cont's definition, by hand: linear between the two nearest ranks."""
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minutes=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=30))
def test_percentiles_are_percentile_cont_for_any_week(requester, minutes):
    ServiceRequest.objects.all().delete()
    submitted = at((3, 4), 8)
    ServiceRequest.objects.bulk_create(
        ServiceRequest(
            requester=requester,
            state=State.REJECTED,
            region_id="cn-hangzhou",
            submitted_at=submitted,
            decided_at=submitted + timedelta(minutes=m),
        )
        for m in minutes
    )
    # Tuesday 08:00 plus up to 5000 minutes is still in the week.
    week = figures.lead_times_by_week(*figures.week_bounds(WEEK_A, WEEK_A))["decision"][0]
    seconds = [m * 60.0 for m in minutes]
    assert week["n"] == len(minutes)
    assert week[0.5] == pytest.approx(statistics.median(seconds))
    assert week[0.9] == pytest.approx(_ranked_percentile(seconds, 0.9))


def test_weeks_without_requests_are_zero_rows(login, approver, history):
    found = login(approver).get("/insights/", {"start": "2025-03-17", "end": "2025-03-23"})
    found = found.context["shown"]["found"]
    assert found["outcomes"] == [{"week": date(2025, 3, 17), "counts": [0] * 7, "total": 0}]
    assert found["lead_times"]["delivery"] == [
        {"week": date(2025, 3, 17), "n": 0, 0.5: None, 0.9: None}
    ]
    # Decided in week 2025-03-17: the creating request's decision is there.
    assert found["lead_times"]["decision"][0]["n"] == 1
    assert found["failures"] == []


def test_the_default_is_the_last_twelve_weeks(login, approver):
    response = login(approver).get("/insights/")
    found = response.context["shown"]["found"]
    today = timezone.localdate()
    assert found["until"] == today - timedelta(days=today.weekday()) + timedelta(days=6)
    assert found["since"] == found["until"] - timedelta(days=12 * 7 - 1)
    assert len(found["outcomes"]) == 12
    page = response.content.decode()
    assert f'value="{today.isoformat()}"' in page
    assert "No request failed in these weeks." in page
    assert "No service records yet." in page


def test_an_end_before_the_start_is_an_error_at_the_end(login, approver):
    response = login(approver).get("/insights/", {"start": "2025-03-10", "end": "2025-03-01"})
    assert response.status_code == 200
    assert response.context.get("shown") is None
    assert response.context["form"].errors == {"end": ["Choose an end on or after the start."]}
    page = response.content.decode()
    assert 'value="2025-03-10"' in page and 'value="2025-03-01"' in page
    assert 'aria-invalid="true"' in page
    assert "insights-data" not in page


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2020-01-01", "end": "2025-01-01"}, "start"),
        ({"start": "not a date"}, "start"),
        ({"end": "1999-12-31"}, "end"),
    ],
)
def test_bad_ranges_are_errors_at_their_field(login, approver, query, field):
    response = login(approver).get("/insights/", query)
    assert response.context.get("shown") is None
    assert list(response.context["form"].errors) == [field]


def test_a_start_alone_runs_to_today(login, approver):
    start = timezone.localdate() - timedelta(days=20)
    found = (
        login(approver).get("/insights/", {"start": start.isoformat()}).context["shown"]["found"]
    )
    assert found["since"] == start - timedelta(days=start.weekday())
    assert len(found["outcomes"]) in (3, 4)


@pytest.mark.parametrize("role", ["approver", "auditor", "admin"])
def test_approvers_auditors_and_admins_see_insights(login, role, request, admin_user):
    user = admin_user if role == "admin" else request.getfixturevalue(role)
    response = login(user).get("/insights/")
    assert response.status_code == 200
    assert 'href="/insights/">Insights</a>' in response.content.decode()


def test_requesters_are_refused_with_the_styled_page(login, requester):
    response = login(requester).get("/insights/")
    assert response.status_code == 403
    page = response.content.decode()
    assert 'data-status="403"' in page
    assert "Insights are for approvers, auditors and administrators." in page
    assert login(requester).get("/").content.decode().count('href="/insights/"') == 0


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/insights/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/insights/"


def test_other_methods_are_refused(login, approver, auditor):
    assert login(approver).post("/insights/").status_code == 405
    assert login(approver).put("/insights/").status_code == 405
    # Auditors' writes are refused before any view (AuditorsReadOnlyMiddleware).
    assert login(auditor).post("/insights/").status_code == 403


def _queries(client, settings):
    """The queries of a page with its figures computed, after one to fill the other caches."""
    settings.INSIGHTS_CACHE_SECONDS = 0
    query = {"start": "2025-01-06", "end": "2025-03-30"}
    client.get("/insights/", query)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/insights/", query).status_code == 200
    grouped = [q for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert len(grouped) >= 3, "outcomes, failures and services (and lead times), computed again"
    return len(queries)


def _requests(requester, count, *, start):
    """`count` requests over twelve weeks, in every state, half with a decision."""
    states = list(State)
    ServiceRequest.objects.bulk_create(
        ServiceRequest(
            requester=requester,
            state=states[n % len(states)],
            region_id="cn-hangzhou",
            submitted_at=start + timedelta(hours=7 * n),
            decided_at=start + timedelta(hours=7 * n + n % 5) if n % 2 else None,
            state_changed_at=start + timedelta(hours=7 * n + 6),
            error_code="Throttling" if n % 3 else "",
        )
        for n in range(count)
    )
    ServiceRequest.objects.update(created_at=start)
    for n in range(count // 10):
        EndpointService.objects.create(service_id=f"epsrv-q{count}-{n}", region_id=f"r{n % 4}")


def test_queries_do_not_grow_with_requests(login, approver, requester, settings):
    client = login(approver)
    _requests(requester, 10, start=at((1, 7)))
    few = _queries(client, settings)
    _requests(requester, 190, start=at((1, 7)))
    assert ServiceRequest.objects.count() == 200
    assert _queries(client, settings) == few


def _figures_of(page):
    return page[page.index('id="as-of"') : page.index('<script src="/static/vendor/chartjs')]


def test_figures_are_kept_in_the_cache_and_say_since_when(
    login, approver, auditor, requester, settings
):
    settings.INSIGHTS_CACHE_SECONDS = 300
    client = login(approver)
    first = client.get("/insights/", RANGE)
    as_of = first.context["shown"]["found"]["as_of"]
    page = first.content.decode()
    assert f"Figures as of {as_of:%H:%M} UTC; kept for 5 minutes" in page
    made(requester, State.DRAFT, at((3, 4), 9))
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/insights/", RANGE).content.decode()
    assert _figures_of(again) == _figures_of(page)
    assert not [
        q for q in queries.captured_queries if "service_requests_servicerequest" in q["sql"]
    ]
    assert 'href="/approvals/">the queue</a>' in again
    # Another range is other figures, computed now; the same range for an auditor is the same
    # figures (kept once for everyone), on a page with no link to the approvers' queue.
    other = client.get("/insights/", {"start": "2025-03-03", "end": "2025-03-09"})
    assert other.context["shown"]["found"]["outcomes"][0]["total"] == 1
    audited = login(auditor).get("/insights/", RANGE)
    assert audited.context["shown"]["found"]["as_of"] == as_of
    assert "the queue</a>" not in audited.content.decode()


def _default_weeks():
    start, end = RangeForm(today=timezone.localdate()).range()
    return {"start": start, "end": end}


def test_beat_computes_the_default_weeks_before_anyone_asks(login, approver, requester, settings):
    settings.INSIGHTS_CACHE_SECONDS = 300
    assert settings.CELERY_BEAT_SCHEDULE["insights-refresh"]["schedule"] == 150
    made(requester, State.DRAFT, timezone.now())
    refresh_insights()
    with CaptureQueriesContext(connection) as queries:
        page = login(approver).get("/insights/")
    assert page.context["shown"]["found"]["outcomes"][-1]["total"] == 1
    assert not [q for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    # Refreshed, the figures are computed again: what happened since is in them.
    made(requester, State.DRAFT, timezone.now())
    refresh_insights()
    assert figures.kept(**_default_weeks())["outcomes"][-1]["total"] == 2


def test_nobody_else_sees_the_link(login, requester, approver, auditor):
    assert 'href="/insights/"' not in login(requester).get("/requests/new/").content.decode()
    for user in (approver, auditor):
        assert 'href="/insights/">Insights</a>' in login(user).get("/services/").content.decode()


def test_an_approver_who_is_also_a_requester_sees_only_counts(login, approver):
    """The page names no request, requester or service: nothing a role could not see."""
    other = UserFactory(username="someone-else")
    made(other, State.FAILED, at((3, 4)), submitted=at((3, 4)), decided=at((3, 4), 1),
         changed=at((3, 4), 2), error_code="X", service_description="Secret project")  # fmt: skip
    page = login(approver).get("/insights/", RANGE).content.decode()
    assert "Secret project" not in page
    assert "someone-else" not in page


def test_the_generated_history_spreads_over_the_year(db):
    """What the benchmark and the screenshot show: creation times over a year, and outcomes
    after their decisions."""
    from django.core.management import call_command

    call_command("generate_history", requests=200, batch=100, seed=3)
    now = timezone.now()
    created = ServiceRequest.objects.values_list("created_at", flat=True)
    assert min(created) < now - timedelta(days=200)
    assert max(created) > now - timedelta(days=100)
    active = ServiceRequest.objects.filter(state=State.ACTIVE)
    assert active.filter(state_changed_at__gt=F("decided_at")).count() == active.count() > 50


def test_weeks_are_the_portals_time_zones(login, approver, requester, settings):
    """Sunday 20:00 UTC is Monday 04:00 in Shanghai: the next week there."""
    settings.TIME_ZONE = "Asia/Shanghai"
    sunday_evening = at((3, 9), 20)
    made(requester, State.REJECTED, sunday_evening, submitted=sunday_evening,
         decided=sunday_evening + timedelta(minutes=5))  # fmt: skip
    found = login(approver).get("/insights/", {"start": "2025-03-03", "end": "2025-03-16"})
    found = found.context["shown"]["found"]
    assert [row["total"] for row in found["outcomes"]] == [0, 1]
    assert [row["n"] for row in found["lead_times"]["decision"]] == [0, 1]


def test_what_the_cloud_says_is_shown_as_text(login, approver, requester):
    """An error code and a region are the cloud's words: escaped in the tables and the JSON."""
    evil = '<img src=x onerror="alert(1)">'
    made(requester, State.FAILED, at((3, 4)), submitted=at((3, 4)), decided=at((3, 4), 1),
         changed=at((3, 4), 2), error_code=evil)  # fmt: skip
    EndpointService.objects.create(service_id="epsrv-evil", region_id=evil, owner=requester)
    page = login(approver).get("/insights/", RANGE).content.decode()
    assert evil not in page
    assert "<code>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</code>" in page
    assert '"\\u003Cimg src=x onerror=\\"alert(1)\\"\\u003E"' in page
