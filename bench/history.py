"""The auditors' history at 100,000 requests and about 1,000,000 events.

Median and 95th percentile time to render a page of /audit/ unfiltered and with each filter,
against the Django admin's changelist of the same model with the same filter, in one run;
prints each ratio (aim: ours at most half the admin's). Then the CSV export of every request:
rows per second and peak memory growth (aim: under 50 MB).

    .venv/bin/python bench/history.py                       # SQLite, var/bench-history.sqlite3
    .venv/bin/python bench/history.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench

The database is generated once (manage.py generate_history) and reused by later runs.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database_url, requests, prepare=True):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["DEBUG"] = "true"
    os.environ["LOG_LEVEL"] = "WARNING"
    if database_url.startswith("postgres"):
        import psycopg

        base, name = database_url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    if not prepare:
        return
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from portal.service_requests.models import ServiceRequest

    have = ServiceRequest.objects.count()
    if have < requests:
        print(f"generating {requests - have} requests (once; later runs reuse them)...")
        call_command("generate_history", requests=requests - have, batch=5000, seed=have)
        print()


def users():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    User = get_user_model()
    auditor, _ = User.objects.get_or_create(username="bench-auditor")
    auditor.groups.add(Group.objects.get_or_create(name="auditors")[0])
    admin, _ = User.objects.get_or_create(username="bench-admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    return auditor, admin


def cases():
    """(name, our query string, the admin's query string for the same filter)."""
    from portal.service_requests.models import RequestResource, ServiceRequest

    sample = ServiceRequest.objects.exclude(service_id="").order_by("-id").first()
    resource_id = RequestResource.objects.order_by("-id").values_list("resource_id", flat=True)[0]
    return [
        ("unfiltered", "", ""),
        ("state=failed", "state=failed", "state__exact=failed"),
        ("region=cn-shanghai", "region_id=cn-shanghai", "region_id__exact=cn-shanghai"),
        ("requester=dev007", "requester=dev007", "requester__username=dev007"),
        ("approver=lead03", "approver=lead03", "approvals__approver__username=lead03"),
        (
            "created in a month",
            "created_after=2026-03-01&created_before=2026-03-31",
            "created_at__gte=2026-03-01T00:00:00%2B00:00&created_at__lt=2026-04-01T00:00:00%2B00:00",
        ),
        (
            "decided in a month",
            "decided_after=2026-03-01&decided_before=2026-03-31",
            "decided_at__gte=2026-03-01T00:00:00%2B00:00&decided_at__lt=2026-04-01T00:00:00%2B00:00",
        ),
        ("service id", f"service={sample.service_id}", f"q={sample.service_id}"),
        ("resource id", f"resource_id={resource_id}", f"resources__resource_id={resource_id}"),
        ("text", "q=ledger", "q=ledger"),
        (
            "failed in cn-hangzhou, page 20",
            "state=failed&region_id=cn-hangzhou&page=20",
            "state__exact=failed&region_id__exact=cn-hangzhou&p=19",
        ),
    ]


def timed(client, url, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]


def pages(repeat):
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    auditor, admin = users()
    ours, theirs = Client(), Client()
    ours.force_login(auditor)
    theirs.force_login(admin)
    print(
        f"{'filter':<32} {'ours p50':>9} {'ours p95':>9} {'admin p50':>10} {'admin p95':>10}"
        f" {'ratio p50':>10}"
    )
    ratios = []
    for name, query, admin_query in cases():
        ours.get(f"/audit/?{query}")
        theirs.get(f"/admin/service_requests/servicerequest/?{admin_query}")
        our50, our95 = timed(ours, f"/audit/?{query}", repeat)
        admin50, admin95 = timed(
            theirs, f"/admin/service_requests/servicerequest/?{admin_query}", repeat
        )
        ratios.append(our50 / admin50)
        print(
            f"{name:<32} {our50 * 1000:8.1f}ms {our95 * 1000:8.1f}ms {admin50 * 1000:9.1f}ms"
            f" {admin95 * 1000:9.1f}ms {our50 / admin50:10.2f}"
        )
    print(f"median ratio ours/admin: {statistics.median(ratios):.2f} (aim: 0.5 or less)")


def peak_rss_kb():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export():
    """Stream the unfiltered CSV export; print rows/s and peak memory growth."""
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    auditor, _admin = users()
    client = Client()
    client.force_login(auditor)
    client.get("/audit/")
    before = peak_rss_kb()
    started = time.perf_counter()
    rows = -1
    for chunk in client.get("/audit/export.csv").streaming_content:
        rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    after = peak_rss_kb()
    # A second pass under tracemalloc: the peak of what Python held while streaming.
    tracemalloc.start()
    for _chunk in client.get("/audit/export.csv").streaming_content:
        pass
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"export.csv: {rows} rows in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s; "
        f"peak RSS {before / 1024:.0f} MB before, {after / 1024:.0f} MB after (growth "
        f"{(after - before) / 1024:.1f} MB); peak Python allocation while streaming "
        f"{peak / 2**20:.1f} MB (aim: under 50 MB)"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench-history.sqlite3'}"
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    setup(args.database_url, args.requests, prepare=not args.export_only)
    if args.export_only:
        export()
        return
    from django.db import connection

    from portal.audit.models import AuditEvent
    from portal.service_requests.models import ServiceRequest

    print(
        f"database: {connection.vendor}; requests: {ServiceRequest.objects.count():,}; "
        f"events: {AuditEvent.objects.count():,}"
    )
    pages(args.repeat)
    # The export runs in its own process, so its memory growth is not hidden by the pages'.
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--export-only",
            "--database-url",
            args.database_url,
            "--requests",
            str(args.requests),
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
