"""The auditors' history at 100,000 requests and about 1,000,000 events.

Every ratio is paired and interleaved (bench/paired.py: A, B, B, A, ... and the median of the
per-round ratios), with DEBUG=false, the same superuser on every side, after ANALYZE:
- a page of /audit/, unfiltered and with each filter, against (1) a plain ListView: the same
  FilterSet, a Paginator with its full COUNT, the same columns (aim: ours <= 1.0x), and
  (2) the project's admin changelist of the same model with the same filter, configured as the
  admin's docs advise for big tables (show_full_result_count=False, no DISTINCT filter, the same
  search fields; aim: ours <= 0.5x);
- the CSV export of every request against its same-process floor, one `values_list` scan of
  the request table into `csv.writer` (aim: >= 0.7x its rows/s), and its peak memory growth
  (aim: under 50 MB).

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
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database_url, requests, prepare=True):
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-" + "x" * 40,
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            # The key the generated history was sealed with (the development default).
            "AUDIT_HMAC_KEYS": "dev:insecure-development-audit-key-never-used-in-production",
            "LOG_LEVEL": "WARNING",
        }
    )
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

    # skip_checks: the benchmark's per-process cache is what the production check refuses.
    call_command("migrate", verbosity=0, skip_checks=True)
    from portal.service_requests.models import ServiceRequest

    have = ServiceRequest.objects.count()
    if have < requests:
        print(f"generating {requests - have} requests (once; later runs reuse them)...")
        call_command("generate_history", requests=requests - have, batch=5000, seed=have)
        print()


def seed_regions():
    """The region list the history offers, as DescribeRegions would have put it in the cache
    (it is cached for an hour; no cloud here)."""
    from django.core.cache import cache

    regions = ["cn-hangzhou", "cn-shanghai", "ap-southeast-1", "cn-huhehaote", "cn-beijing"]
    cache.set("privatelink:regions", [(r, r) for r in regions], None)


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


def plain_list(request):
    """What a skeptic would write: the same FilterSet and columns, a Paginator, a full COUNT."""
    from django.core.paginator import Paginator
    from django.db.models import Prefetch
    from django.shortcuts import render

    from portal.audit.filters import RequestHistoryFilter
    from portal.service_requests.models import Approval, ServiceRequest

    history = RequestHistoryFilter(request.GET, queryset=ServiceRequest.objects.all())
    queryset = history.qs.select_related("requester").prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver"))
    )
    if not queryset.query.order_by:
        queryset = queryset.order_by("-created_at", "-id")
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "bench/plain_requests.html", {"page": page})


urlpatterns = []  # bench/history.py is the URLconf while the pages are timed (see pages())


def pages(rounds, count):
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.urls import include, path

    from bench.paired import paired, summary

    setup_test_environment()
    seed_regions()
    _auditor, admin = users()
    urlpatterns[:] = [path("plain/", plain_list), path("", include("portal.urls"))]
    templates = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [*settings.TEMPLATES[0]["DIRS"], Path(__file__).resolve().parent / "templates"],
        }
    ]
    changelist = "/admin/service_requests/servicerequest/"
    with override_settings(ROOT_URLCONF=__name__, TEMPLATES=templates, STORAGES=STORAGES):
        client = Client()
        client.force_login(admin)
        print(f"{rounds} rounds x {count} requests per side, as one superuser, DEBUG=false")
        plain_ratios, admin_ratios = [], []
        for name, query, admin_query in cases():
            ours, plain, theirs = (
                f"/audit/?{query}",
                f"/plain/?{query}",
                f"{changelist}?{admin_query}",
            )
            for url in (ours, plain, theirs):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
            a, b, ratios = paired(
                lambda a=ours: client.get(a),
                lambda b=plain: client.get(b),
                rounds=rounds,
                count=count,
            )
            plain_ratios.append(statistics.median(ratios))
            print(summary(f"  {name:32} vs plain ListView", a, b, ratios))
            a, b, ratios = paired(
                lambda a=ours: client.get(a),
                lambda b=theirs: client.get(b),
                rounds=rounds,
                count=count,
            )
            admin_ratios.append(statistics.median(ratios))
            print(summary(f"  {name:32} vs tuned admin   ", a, b, ratios))
        print(
            f"median ratio ours/plain ListView: {statistics.median(plain_ratios):.2f} "
            f"(worst {max(plain_ratios):.2f}; aim <= 1.0); ours/tuned admin: "
            f"{statistics.median(admin_ratios):.2f} (worst {max(admin_ratios):.2f}; aim <= 0.5)"
        )


def peak_rss_kb():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# Static files without collectstatic's manifest (DEBUG=false would ask for one).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def export(rounds):
    """The CSV export of every request, through the view, against its same-process floor."""
    from django.test.utils import override_settings

    with override_settings(STORAGES=STORAGES):
        _export(rounds)


def _export(rounds):
    import csv
    import io

    from django.test import Client
    from django.test.utils import setup_test_environment

    from bench.paired import paired, summary
    from portal.audit.views import ROW_FIELDS
    from portal.service_requests.models import ServiceRequest

    setup_test_environment()
    seed_regions()
    auditor, _admin = users()
    client = Client()
    client.force_login(auditor)
    client.get("/audit/")
    rows = ServiceRequest.objects.count()

    def ours():
        for _chunk in client.get("/audit/export.csv").streaming_content:
            pass

    def floor():
        writer = csv.writer(io.StringIO())
        for row in ServiceRequest.objects.values_list(*ROW_FIELDS).iterator(chunk_size=2000):
            writer.writerow(row)

    before = peak_rss_kb()
    ours()
    after = peak_rss_kb()
    a, b, ratios = paired(ours, floor, rounds=rounds)
    print(summary(f"export.csv of {rows:,} rows vs its floor", a, b, ratios, unit="s", scale=1))
    rate = statistics.median(rows / t for t in a)
    floor_rate = statistics.median(rows / t for t in b)
    # A pass under tracemalloc: the peak of what Python held while streaming.
    tracemalloc.start()
    ours()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"export.csv: {rate:,.0f} rows/s, floor {floor_rate:,.0f} rows/s: throughput ratio "
        f"{statistics.median(1 / r for r in ratios):.2f} (aim >= 0.7); peak RSS growth "
        f"{(after - before) / 1024:.1f} MB, peak Python allocation while streaming "
        f"{peak / 2**20:.1f} MB (aim: under 50 MB)"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench-history.sqlite3'}"
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--count", type=int, default=3, help="pages per side per round")
    parser.add_argument("--export-rounds", type=int, default=3)
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pages-only", action="store_true")
    args = parser.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    setup(args.database_url, args.requests, prepare=not args.export_only)
    if args.export_only:
        export(args.export_rounds)
        return
    from django.db import connection

    from portal.audit.models import AuditEvent
    from portal.service_requests.models import ServiceRequest

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"database: {connection.vendor}; requests: {ServiceRequest.objects.count():,}; "
        f"events: {AuditEvent.objects.count():,}"
    )
    pages(args.rounds, args.count)
    if args.pages_only:
        return
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
            "--export-rounds",
            str(args.export_rounds),
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
