"""The insights page at 100,000 requests, against the history page's unfiltered listing.

Every ratio is paired and interleaved (bench/paired.py: A, B, B, A, ... and the median of the
per-round ratios), with DEBUG=false, the same superuser on both sides, after VACUUM ANALYZE:
- cold: /insights/ (the default twelve weeks) with its figures computed on every call
  (INSIGHTS_CACHE_SECONDS=0) against /audit/ (aim: <= 0.5x);
- warm: /insights/ with its figures from the cache, as people get them but the first in
  five minutes, against /audit/;
- cold over a whole year (52 weeks: about 95,000 requests), for scale;
then the time of each figure's query alone.

    .venv/bin/python bench/insights.py                       # SQLite, var/bench-insights.sqlite3
    .venv/bin/python bench/insights.py --database-url postgres://postgres@127.0.0.1:5432/portal_insights

The history is generated once (manage.py generate_history, as bench/history.py does) and
reused. It has no service records, so the first run also writes one for each request that has
a ServiceId (outside the audit log: use a database of its own, not bench/history.py's).
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import STORAGES, seed_regions, setup, users  # noqa: E402


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


def pages(rounds, count):
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.utils import timezone

    from bench.paired import paired, summary

    setup_test_environment()
    seed_regions()
    _auditor, admin = users()
    client = Client()
    client.force_login(admin)
    year = {"start": (timezone.localdate() - timedelta(weeks=51)).isoformat()}
    print(f"{rounds} rounds x {count} pages per side, as one superuser, DEBUG=false")

    def side(url, query=None):
        def get():
            response = client.get(url, query or {})
            assert response.status_code == 200, (url, response.status_code)

        get()
        return get

    results = {}
    with override_settings(STORAGES=STORAGES, INSIGHTS_CACHE_SECONDS=0):
        history = side("/audit/")
        for name, query in (("cold, 12 weeks", None), ("cold, 52 weeks", year)):
            a, b, ratios = paired(side("/insights/", query), history, rounds=rounds, count=count)
            results[name] = statistics.median(ratios)
            print(summary(f"  /insights/ {name:16} vs /audit/", a, b, ratios))
    with override_settings(STORAGES=STORAGES, INSIGHTS_CACHE_SECONDS=300):
        a, b, ratios = paired(side("/insights/"), history, rounds=rounds, count=count)
        results["warm"] = statistics.median(ratios)
        print(summary(f"  /insights/ {'warm, 12 weeks':16} vs /audit/", a, b, ratios))
    print(
        f"ratio insights/history: cold {results['cold, 12 weeks']:.2f} (aim <= 0.5), "
        f"warm {results['warm']:.2f}, a year cold {results['cold, 52 weeks']:.2f}"
    )


def figures_alone(rounds):
    """Each figure's query, timed alone (median ms), for the default weeks and a year."""
    from django.utils import timezone

    from portal.insights import figures

    today = timezone.localdate()
    for weeks in (12, 52):
        since, until = figures.week_bounds(today - timedelta(weeks=weeks - 1), today)
        now = timezone.now()
        parts = {
            "outcomes by week": lambda s=since, u=until: figures.outcomes_by_week(s, u),
            "lead times": lambda s=since, u=until: figures.lead_times_by_week(s, u),
            "pending by age": lambda n=now: figures.pending_by_age(n),
            "failures by code": lambda s=since, u=until: figures.failures_by_code(s, u),
            "services by region": figures.services_by_region,
        }
        line = []
        for name, compute in parts.items():
            took = []
            for _ in range(rounds):
                started = time.perf_counter()
                compute()
                took.append(time.perf_counter() - started)
            line.append(f"{name} {statistics.median(took) * 1000:.1f}")
        print(f"  {weeks} weeks, ms: " + ", ".join(line))


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

    if connection.vendor == "postgresql":
        # VACUUM too, as autovacuum would have by then: the figures' index-only scans need
        # the visibility map it sets.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(
        f"database: {connection.vendor}; requests: {ServiceRequest.objects.count():,}; "
        f"services: {EndpointService.objects.count():,}"
    )
    pages(args.rounds, args.count)
    figures_alone(args.rounds)


if __name__ == "__main__":
    main()
