"""The insights page at 100,000 requests, against the history page's unfiltered listing.

Every ratio is paired and interleaved (bench/paired.py: A, B, B, A, ... each round's ratio
recorded, printed as their median and range), with DEBUG=false, the same superuser on both
sides, after VACUUM ANALYZE on PostgreSQL:
- cold: /insights/ (the default twelve weeks) with its figures computed on every call
  (INSIGHTS_CACHE_SECONDS=0) against /audit/ (aim: <= 0.5x);
- warm: /insights/ with its figures from the cache, as people get them but the first in
  five minutes, against /audit/ (aim: <= 0.5x);
- cold over a whole year (52 weeks: about 95,000 requests), for scale;
then the time of each figure's query alone, the five queries in turn in each round.

    .venv/bin/python bench/insights.py                       # SQLite, var/bench-insights.sqlite3
    .venv/bin/python bench/insights.py --database-url postgres://postgres@127.0.0.1:5432/portal_insights
    .venv/bin/python bench/insights.py --database-url sqlite:///var/mine.sqlite3 --requests 3000 \
        --rounds 3

What it checks, stopping with exit status 2 (bench/report.py) otherwise: every page answers
200 and is the real page; /insights/ has a row per week of its range in its outcomes table and
counts requests in them; /audit/ renders its page of rows; a cold page runs the figures'
queries (at least five more than a warm one) and a warm one does not, before the timing and
again between its rounds; each figure's query alone finds something to count. Every timed
answer of /audit/ and of a warm /insights/ has the status and the bytes of the one checked
before timing; a cold /insights/ computes its figures again on every call, and the requests
waiting by age move with the clock (the generated history's submissions run up to its
generation), so its timed answers must have the status and the figures' marker and a size
within NEAR bytes of the one checked.

The history is generated once (manage.py generate_history, as bench/history.py does) and
reused. It has no service records, so the first run also writes one for each request that has
a ServiceId (outside the audit log: use a database of its own, not bench/history.py's).
"""

import argparse
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import rows_of, seed_regions, setup, sides, users  # noqa: E402
from bench.report import Run, expect  # noqa: E402
from bench.support import (  # noqa: E402
    STORAGES,
    answer,
    check_timed,
    check_timed_near,
    marked,
    timed_get,
)

FIGURE_QUERIES = 5  # one query per figure (tests/insights/test_figures.py)
INSIGHTS_MARKER = b'id="insights-data"'
# How far a cold page's size may stray: a request that waits into the next age bucket moves
# two of its five counts, each shown twice (table and chart data), by a digit at most; a
# few such moves in a run stay well inside this.
NEAR = 16
OUTCOME_ROW = re.compile(
    rb'<tr><th scope="row">\d{4}-\d\d-\d\d</th>(?:<td>\d+</td>)*<td>(\d+)</td></tr>'
)


def top_up_services():
    """One service record per request with a ServiceId: a few in each status but mostly active."""
    from portal.endpoint_services.models import EndpointService, ServiceStatus
    from portal.service_requests.models import ServiceRequest, State

    if EndpointService.objects.exists():
        return
    others = [ServiceStatus.PENDING, ServiceStatus.DELETING, ServiceStatus.DELETED]
    rows = []
    for n, (service_id, region_id, owner_id, state) in enumerate(
        ServiceRequest.objects.exclude(service_id="")
        .order_by("pk")
        .values_list("service_id", "region_id", "requester_id", "state")
        .iterator(chunk_size=5000)
    ):
        status = ServiceStatus.CREATING if state == State.CREATING else ServiceStatus.ACTIVE
        if n % 10 == 0:
            status = others[n // 10 % len(others)]
        rows.append(
            EndpointService(
                service_id=service_id, region_id=region_id, owner_id=owner_id, status=status
            )
        )
    EndpointService.objects.bulk_create(rows, batch_size=5000)
    print(f"wrote {len(rows):,} service records")


def check_insights(client, query, weeks):
    """GET /insights/ and check it is the page with `weeks` weeks of figures; return
    (the response, the queries it ran)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/insights/", query or {})
    insights_shown(response, query, weeks)
    return response, len(queries)


def insights_shown(response, query, weeks):
    """The size of `response`; NotMeasured unless it is /insights/ with requests counted in
    each of its `weeks` weeks' rows."""
    content = response.content
    expect(response.status_code == 200, f"/insights/ {query or ''} answered {response.status_code}")
    expect(
        INSIGHTS_MARKER in content,
        f"/insights/ {query or ''} is not the page timed: no figures in its {len(content):,} bytes",
    )
    table = content[content.find(b'<table id="outcomes-table">') :]
    totals = [int(total) for total in OUTCOME_ROW.findall(table[: table.find(b"</table>")])]
    expect(
        len(totals) == weeks and sum(totals) > 0,
        f"/insights/ {query or ''} shows {len(totals)} weeks and {sum(totals)} requests; "
        f"{weeks} weeks of requests expected",
    )
    return len(content)


def pages(run, rounds, count):
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.utils import timezone

    from bench.paired import paired
    from portal.service_requests.models import ServiceRequest

    setup_test_environment()
    seed_regions()
    _auditor, admin = users()
    client = Client()
    client.force_login(admin)
    database = connection.vendor
    year = {"start": (timezone.localdate() - timedelta(weeks=51)).isoformat()}
    print(f"{rounds} rounds x {count} pages per side, as one superuser, DEBUG=false")

    def compare(name, query, weeks, aim, label, *, cold):
        def checked(_round=None):
            # Before the timing and between its rounds, outside the clock: a cold page that
            # stopped computing its figures, or a warm one that computed them, shows here.
            response, ran = check_insights(client, query, weeks)
            expect(
                ran >= warm + FIGURE_QUERIES if cold else ran == warm,
                f"/insights/ {label} ran {ran} queries, a warm page {warm}: its figures were "
                + ("not computed" if cold else "computed"),
            )
            return response, ran

        response, ran = checked()
        run.note(**{f"{name}_queries": ran})
        keep = marked(INSIGHTS_MARKER) if cold else answer
        timed = {"insights": [], "audit": []}
        a, b, ratios = paired(
            timed_get(client, "/insights/", timed["insights"], query, keep=keep),
            timed_get(client, "/audit/", timed["audit"]),
            rounds=rounds,
            count=count,
            before_round=checked,
        )
        if cold:
            check_timed_near(timed["insights"], keep(response), NEAR, f"/insights/ {label}")
        else:
            check_timed(timed["insights"], keep(response), f"/insights/ {label}")
        check_timed(timed["audit"], history, "/audit/")
        run.figure(
            f"insights.{database}.{name}",
            ratios,
            unit="x /audit/",
            aim=aim,
            label=f"/insights/ {label:16} {statistics.median(a) * 1000:7.1f} ms vs /audit/ "
            f"{statistics.median(b) * 1000:6.1f} ms",
        )

    def fresh_cache():
        # Nothing kept from a phase before (a fragment kept for 300 s is served even while
        # INSIGHTS_CACHE_SECONDS=0), but the region list, as the history has it.
        cache.clear()
        seed_regions()

    with override_settings(STORAGES=STORAGES, INSIGHTS_CACHE_SECONDS=300):
        # Under the STORAGES it is timed with: its static files' URLs are part of its bytes.
        response = client.get("/audit/")
        shown = rows_of(response, sides()["ours"], "/audit/")
        expected = min(50, ServiceRequest.objects.count())
        expect(len(shown) == expected, f"/audit/ rendered {len(shown)} rows, not {expected}")
        history = answer(response)
        fresh_cache()
        check_insights(client, None, 12)
        response, warm = check_insights(client, None, 12)
        run.note(insights_bytes=len(response.content), warm_queries=warm)
    with override_settings(STORAGES=STORAGES, INSIGHTS_CACHE_SECONDS=0):
        fresh_cache()
        for name, query, weeks, aim, label in (
            ("cold_12w", None, 12, ("<=", 0.5), "cold, 12 weeks"),
            ("cold_52w", year, 52, None, "cold, 52 weeks"),
        ):
            check_insights(client, query, weeks)
            compare(name, query, weeks, aim, label, cold=True)
    with override_settings(STORAGES=STORAGES, INSIGHTS_CACHE_SECONDS=300):
        check_insights(client, None, 12)
        compare("warm", None, 12, ("<=", 0.5), "warm, 12 weeks", cold=False)


def figures_alone(run, rounds):
    """Each figure's query, timed alone in each round, in turn, for 12 weeks and a year."""
    from django.db import connection
    from django.utils import timezone

    from portal.insights import figures

    database = connection.vendor
    today = timezone.localdate()
    for weeks in (12, 52):
        since, until = figures.week_bounds(today - timedelta(weeks=weeks - 1), today)
        now = timezone.now()
        # Each part and what it counted: a figure that finds nothing timed no work.
        parts = {
            "outcomes_by_week": (
                lambda s=since, u=until: figures.outcomes_by_week(s, u),
                lambda found: sum(row["total"] for row in found),
            ),
            "lead_times": (
                lambda s=since, u=until: figures.lead_times_by_week(s, u),
                lambda found: sum(row["n"] for row in found["decision"]),
            ),
            "pending_by_age": (
                lambda n=now: figures.pending_by_age(n),
                lambda found: sum(n for _label, n in found),
            ),
            "failures_by_code": (
                lambda s=since, u=until: figures.failures_by_code(s, u),
                lambda found: sum(n for _code, n in found),
            ),
            "services_by_region": (
                figures.services_by_region,
                lambda found: sum(row["total"] for row in found),
            ),
        }
        took = {name: [] for name in parts}
        for _round in range(rounds):
            for name, (compute, counted) in parts.items():
                started = time.perf_counter()
                found = compute()
                took[name].append((time.perf_counter() - started) * 1000)
                expect(counted(found) > 0, f"{name} over {weeks} weeks counted nothing")
        for name, values in took.items():
            run.figure(
                f"insights.{database}.query.{name}.{weeks}w",
                values,
                unit="ms",
                label=f"{weeks} weeks, {name} alone",
                digits=1,
            )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench-insights.sqlite3'}"
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--count", type=int, default=3, help="pages per side per round")
    args = parser.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    setup(args.database_url, args.requests)
    top_up_services()
    from django.db import connection

    from portal.endpoint_services.models import EndpointService
    from portal.service_requests.models import ServiceRequest

    with Run("bench/insights.py") as run:
        if connection.vendor == "postgresql":
            # VACUUM too, as autovacuum would have by then: the figures' index-only scans need
            # the visibility map it sets.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        requests, services = ServiceRequest.objects.count(), EndpointService.objects.count()
        run.note(database=connection.vendor, requests=requests, services=services)
        print(f"database: {connection.vendor}; requests: {requests:,}; services: {services:,}")
        pages(run, args.rounds, args.count)
        figures_alone(run, args.rounds)


if __name__ == "__main__":
    main()
