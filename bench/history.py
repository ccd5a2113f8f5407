"""The auditors' history at 100,000 requests and about 1,000,000 events.

Every ratio is paired and interleaved (bench/paired.py: A, B, B, A, ... each round's ratio
recorded, printed as their median and range), with DEBUG=false, the same superuser on every
side, after ANALYZE on PostgreSQL:
- a page of /audit/, unfiltered and with each filter, against (1) a plain ListView: the same
  FilterSet, a Paginator with its full COUNT, the same columns (aim: ours <= 1.0x), and
  (2) the project's admin changelist of the same model with the same filter (its own exact
  filter on the column where it has one, never its broader search), configured as the admin's
  docs advise for big tables (show_full_result_count=False, no DISTINCT filter, the same search
  fields; aim: ours <= 0.5x); and, per round, the median over the filters of each;
- the CSV export of every request against its same-process floor, one `values_list` scan of
  the request table into `csv.writer` (aim: >= 0.7x its rows/s), and, in each of
  `--memory-rounds` fresh processes (default 3), the growth of peak RSS during its first
  export (aim: under 50 MB) and the peak of what Python allocated in one more.

    .venv/bin/python bench/history.py                       # SQLite, var/bench-history.sqlite3
    .venv/bin/python bench/history.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench
    .venv/bin/python bench/history.py --database-url sqlite:///var/mine.sqlite3 --requests 3000 \
        --rounds 3

What it checks, stopping with exit status 2 (bench/report.py) otherwise: every page of every
side answers 200 and is the real page (its table: not a login page, an error page or a
redirect), and every timed answer has the status and the bytes of the one checked before
timing (bench/support.py check_timed); /audit/ renders as many rows as the filter's count says
its page holds (at least one, at most 50), and the plain list the same rows; the admin at
least one row. The deep page of "failed in cn-hangzhou" is chosen from the data: the middle
one of that filter's pages (and the admin's page holding its first row), so that it exists
on a small history too. The export's CSV has exactly one line per request and its header,
counted while it streams, and the floor writes as many rows.

The database is generated once (manage.py generate_history) and reused by later runs.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Run, expect  # noqa: E402
from bench.support import STORAGES, answer, check_timed, configure, timed_get  # noqa: E402

# The key the generated history was sealed with (the development default): its events verify
# only under it, whatever key the other benchmarks run with.
HISTORY_KEY = "dev:insecure-development-audit-key-never-used-in-production"


def setup(database_url, requests, prepare=True):
    """Django as production runs it on the history at `database_url`, generated up to
    `requests` requests unless not `prepare`."""
    if database_url.startswith("postgres"):
        import psycopg

        base, name = database_url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    configure(database_url, AUDIT_HMAC_KEYS=HISTORY_KEY)
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


CHANGELIST = "/admin/service_requests/servicerequest/"


@dataclass(frozen=True)
class Case:
    """A filter timed on every side: /audit/ and the plain list take `query`, the admin
    `admin_query`; `slug` names its figures."""

    name: str
    slug: str
    query: str
    admin_query: str

    def urls(self):
        return {
            "ours": f"/audit/?{self.query}",
            "plain": f"/plain/?{self.query}",
            "admin": f"{CHANGELIST}?{self.admin_query}",
        }


def deep_page():
    """The page of failed requests in cn-hangzhou to time, and the admin's page holding its
    first row: the middle one of the pages that exist (a fixed number, such as 20, is past the
    end of a small history, where the admin answers 302 and /audit/ an empty page)."""
    from django.contrib import admin

    from portal.history.views import PAGE_SIZE
    from portal.service_requests.models import ServiceRequest, State

    failed = ServiceRequest.objects.filter(state=State.FAILED, region_id="cn-hangzhou").count()
    expect(failed, "no request failed in cn-hangzhou: the paged filter has no page to time")
    page = -(-failed // PAGE_SIZE) // 2 + 1
    per_page = admin.site.get_model_admin(ServiceRequest).list_per_page
    return page, (page - 1) * PAGE_SIZE // per_page + 1


def cases():
    from portal.service_requests.models import RequestResource, ServiceRequest

    sample = ServiceRequest.objects.exclude(service_id="").order_by("-id").first()
    expect(sample, "no request has a ServiceId: the service filter has nothing to find")
    resource_id = RequestResource.objects.order_by("-id").values_list("resource_id", flat=True)[0]
    page, admin_page = deep_page()
    return [
        Case("unfiltered", "unfiltered", "", ""),
        Case("state=failed", "state_failed", "state=failed", "state__exact=failed"),
        Case(
            "region=cn-shanghai",
            "region_cn_shanghai",
            "region_id=cn-shanghai",
            "region_id__exact=cn-shanghai",
        ),
        Case(
            "requester=dev007",
            "requester_dev007",
            "requester=dev007",
            "requester__username=dev007",
        ),
        Case(
            "approver=lead03",
            "approver_lead03",
            "approver=lead03",
            "approvals__approver__username=lead03",
        ),
        Case(
            "created in a month",
            "created_in_a_month",
            "created_after=2026-03-01&created_before=2026-03-31",
            "created_at__gte=2026-03-01T00:00:00%2B00:00&created_at__lt=2026-04-01T00:00:00%2B00:00",
        ),
        Case(
            "decided in a month",
            "decided_in_a_month",
            "decided_after=2026-03-01&decided_before=2026-03-31",
            "decided_at__gte=2026-03-01T00:00:00%2B00:00&decided_at__lt=2026-04-01T00:00:00%2B00:00",
        ),
        # The admin's exact filter on the column: its search (q=) would OR substring matches
        # over the description and the justification too. Ours matches the ServiceName as
        # well, so if anything ours does more.
        Case(
            "service id",
            "service_id",
            f"service={sample.service_id}",
            f"service_id__exact={sample.service_id}",
        ),
        Case(
            "resource id",
            "resource_id",
            f"resource_id={resource_id}",
            f"resources__resource_id={resource_id}",
        ),
        Case("text", "text", "q=ledger", "q=ledger"),
        Case(
            f"failed in cn-hangzhou, page {page}",
            "failed_cn_hangzhou_middle_page",
            f"state=failed&region_id=cn-hangzhou&page={page}",
            f"state__exact=failed&region_id__exact=cn-hangzhou&p={admin_page}",
        ),
    ]


@dataclass(frozen=True)
class Side:
    """What one side's real page has (`marker`), and how to find the id of each row it
    rendered (`row`, its first group)."""

    name: str
    marker: bytes
    row: re.Pattern


def sides():
    from django.urls import reverse

    timeline = reverse("history:timeline", args=[0]).removesuffix("0/").encode()
    # /audit/ and the plain list link each row to its timeline the same way.
    link = re.compile(rb'<td><a href="' + re.escape(timeline) + rb'(\d+)/">#\1</a></td>')
    return {
        "ours": Side("/audit/", b'<table id="history">', link),
        "plain": Side("the plain ListView", b'<table id="plain-history">', link),
        "admin": Side(
            "the admin changelist",
            b'id="changelist"',
            re.compile(rb'<tr><th class="field-id"><a href="[^"]*/(\d+)/change/'),
        ),
    }


def rows_of(response, side, url):
    """The ids of the rows `side` rendered at `url`; NotMeasured unless it is the real page."""
    if response.status_code != 200:
        to = f" to {response['Location']}" if response.has_header("Location") else ""
        expect(False, f"{side.name} {url} answered {response.status_code}{to}, not 200")
    expect(
        side.marker in response.content,
        f"{side.name} {url} is not the page timed: no {side.marker.decode()} in its "
        f"{len(response.content):,} bytes (a login or error page?)",
    )
    return [int(pk) for pk in side.row.findall(response.content)]


def check_case(client, case):
    """Check what every side answers for `case`; return (rows on our page, on the admin's,
    {side: its answer to time against, bench/support.py's (status, bytes)}).

    /audit/ must render exactly the rows its page holds by the filter's count (at least one),
    the plain list the same rows, the admin at least one and at most a page.
    """
    from django.contrib import admin
    from django.http import QueryDict

    from portal.history.filters import RequestHistoryFilter
    from portal.history.views import PAGE_SIZE
    from portal.service_requests.models import ServiceRequest

    data = QueryDict(case.query)
    matching = RequestHistoryFilter(data, queryset=ServiceRequest.objects.all()).qs.count()
    page = int(data.get("page", 1))
    expected = max(0, min(PAGE_SIZE, matching - (page - 1) * PAGE_SIZE))
    expect(
        expected,
        f"{case.name}: page {page} holds no row ({matching:,} requests match): an empty "
        "page is not what the filter costs",
    )
    side, urls = sides(), case.urls()
    got = {name: client.get(url) for name, url in urls.items()}
    ours = rows_of(got["ours"], side["ours"], urls["ours"])
    expect(
        len(ours) == expected,
        f"{case.name}: /audit/ rendered {len(ours)} rows where its page holds {expected}",
    )
    plain = rows_of(got["plain"], side["plain"], urls["plain"])
    expect(
        plain == ours,
        f"{case.name}: the plain list rendered other rows than /audit/ ({len(plain)} rows, "
        f"{len(ours)} on /audit/)",
    )
    theirs = rows_of(got["admin"], side["admin"], urls["admin"])
    per_page = admin.site.get_model_admin(ServiceRequest).list_per_page
    expect(
        0 < len(theirs) <= per_page,
        f"{case.name}: the admin rendered {len(theirs)} rows (1 to {per_page} expected)",
    )
    return len(ours), len(theirs), {name: answer(response) for name, response in got.items()}


def compare(client, urls, expected, other, *, rounds, count):
    """Paired rounds of GETs of /audit/ and of `other`, at their `urls`, each timed answer
    checked against the one `expected` of its side; paired()'s (ours, theirs, ratios)."""
    from bench.paired import paired

    answers = {"ours": [], other: []}
    timed = paired(
        timed_get(client, urls["ours"], answers["ours"]),
        timed_get(client, urls[other], answers[other]),
        rounds=rounds,
        count=count,
    )
    for name, kept in answers.items():
        check_timed(kept, expected[name], urls[name])
    return timed


def plain_list(request):
    """What a skeptic would write: the same FilterSet and columns, a Paginator, a full COUNT."""
    from django.core.paginator import Paginator
    from django.db.models import Prefetch
    from django.shortcuts import render

    from portal.history.filters import RequestHistoryFilter
    from portal.service_requests.models import Approval, ServiceRequest

    history = RequestHistoryFilter(request.GET, queryset=ServiceRequest.objects.all())
    queryset = history.qs.select_related("requester").prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver"))
    )
    if not queryset.query.order_by:
        queryset = queryset.order_by("-created_at", "-id")
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "bench/plain_requests.html", {"page": page})


urlpatterns = []  # this module is the URLconf while the pages are timed (see site())


@contextmanager
def site():
    """The portal with the plain list at /plain/ (its template in bench/templates)."""
    from django.conf import settings
    from django.test.utils import override_settings
    from django.urls import include, path

    urlpatterns[:] = [path("plain/", plain_list), path("", include("portal.urls"))]
    templates = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [*settings.TEMPLATES[0]["DIRS"], Path(__file__).resolve().parent / "templates"],
        }
    ]
    with override_settings(ROOT_URLCONF=__name__, TEMPLATES=templates, STORAGES=STORAGES):
        yield


def ms(times):
    return f"{statistics.median(times) * 1000:.1f} ms"


def pages(run, rounds, count):
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    seed_regions()
    _auditor, admin = users()
    database = connection.vendor
    print(f"{rounds} rounds x {count} requests per side, as one superuser, DEBUG=false")
    by_case = {"plain": [], "admin": []}
    with site():
        client = Client()
        client.force_login(admin)
        for case in cases():
            rows, admin_rows, expected = check_case(client, case)
            run.note(**{f"rows.{case.slug}": rows, f"admin_rows.{case.slug}": admin_rows})
            for other, aim in (("plain", 1.0), ("admin", 0.5)):
                a, b, ratios = compare(
                    client, case.urls(), expected, other, rounds=rounds, count=count
                )
                by_case[other].append(ratios)
                run.figure(
                    f"history.{database}.{other}.{case.slug}",
                    ratios,
                    unit=f"x {other}",
                    aim=("<=", aim),
                    label=f"{case.name:34} {rows:2} rows, ours {ms(a)} / {other} {ms(b)}",
                )
    for other, aim in (("plain", 1.0), ("admin", 0.5)):
        run.figure(
            f"history.{database}.median_vs_{other}",
            [statistics.median(round_) for round_ in zip(*by_case[other], strict=True)],
            unit=f"x {other}",
            aim=("<=", aim),
            label=f"each round's median over the {len(by_case[other])} filters, ours/{other}",
        )


def peak_rss_kb():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export_child(result_path, rounds):
    """In a fresh process (so that the pages' peak memory hides nothing): the growth of peak
    RSS during its first CSV export of every request, `rounds` paired rounds of the export
    through the view against its floor, and the peak Python allocation of one more export;
    written to `result_path` as JSON."""
    from django.test.utils import override_settings

    with override_settings(STORAGES=STORAGES):
        found = _export(rounds)
    Path(result_path).write_text(json.dumps(found))


def _export(rounds):
    import csv

    from django.test import Client
    from django.test.utils import setup_test_environment

    from bench.paired import paired
    from portal.history.exports import ROW_FIELDS
    from portal.service_requests.models import ServiceRequest

    setup_test_environment()
    seed_regions()
    auditor, _admin = users()
    client = Client()
    client.force_login(auditor)
    rows_of(client.get("/audit/"), sides()["ours"], "/audit/")
    rows = ServiceRequest.objects.count()
    expect(rows, "no request to export")

    def ours():
        response = client.get("/audit/export.csv")
        expect(
            response.status_code == 200 and response["Content-Type"].startswith("text/csv"),
            f"/audit/export.csv answered {response.status_code} {response['Content-Type']}",
        )
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
        expect(
            lines == rows + 1,
            f"the export wrote {lines:,} lines for {rows:,} requests and a header",
        )

    def floor():
        written = 0
        with open(os.devnull, "w", newline="") as sink:
            writer = csv.writer(sink)
            for row in ServiceRequest.objects.values_list(*ROW_FIELDS).iterator(chunk_size=2000):
                writer.writerow(row)
                written += 1
        expect(written == rows, f"the floor wrote {written:,} rows of {rows:,}")

    before = peak_rss_kb()
    ours()
    after = peak_rss_kb()
    a, b, ratios = paired(ours, floor, rounds=rounds)
    tracemalloc.start()
    ours()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": rows,
        "ours_s": a,
        "floor_s": b,
        "throughput_ratios": [1 / r for r in ratios],
        "rss_growth_mb": (after - before) / 1024,
        "python_peak_mb": peak / 2**20,
    }


def export_in_fresh_process(args, rounds):
    """What this script's --export-child found with `rounds` paired rounds."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--export-child",
                result.name,
                "--database-url",
                args.database_url,
                "--export-rounds",
                str(rounds),
            ],
            check=False,
        )
        expect(child.returncode == 0, f"the export's process exited {child.returncode}")
        return json.load(result)


def export(run, args):
    from django.db import connection

    database = connection.vendor
    expect(args.memory_rounds >= 1, f"--memory-rounds must be 1 or more, not {args.memory_rounds}")
    # Peak RSS never goes down, so a process's first export is its only round of the growth:
    # a round per process. The first process also times the export against its floor.
    found = [
        export_in_fresh_process(args, args.export_rounds if n == 0 else 0)
        for n in range(args.memory_rounds)
    ]
    timed, rows = found[0], found[0]["rows"]
    run.note(export_rows=rows)
    run.figure(
        f"history.{database}.export_throughput_ratio",
        timed["throughput_ratios"],
        unit="x the floor's rows/s",
        aim=(">=", 0.7),
        label=f"export.csv of {rows:,} rows, {rows / statistics.median(timed['ours_s']):,.0f} "
        f"rows/s, floor {rows / statistics.median(timed['floor_s']):,.0f} rows/s",
    )
    run.figure(
        f"history.{database}.export_rss_mb",
        [each["rss_growth_mb"] for each in found],
        unit="MB",
        aim=("<=", 50.0),
        label="peak RSS growth, each fresh process's first export",
        digits=1,
    )
    run.figure(
        f"history.{database}.export_python_peak_mb",
        [each["python_peak_mb"] for each in found],
        unit="MB",
        label="peak Python allocation while streaming (tracemalloc, a pass in each process)",
        digits=1,
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
    parser.add_argument(
        "--memory-rounds", type=int, default=3, help="fresh processes measuring the export's memory"
    )
    parser.add_argument("--pages-only", action="store_true")
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        setup(args.database_url, 0, prepare=False)
        export_child(args.export_child, args.export_rounds)
        return
    (ROOT / "var").mkdir(exist_ok=True)
    setup(args.database_url, args.requests)
    from django.db import connection

    from portal.audit.models import AuditEvent
    from portal.service_requests.models import ServiceRequest

    with Run("bench/history.py") as run:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        requests, events = ServiceRequest.objects.count(), AuditEvent.objects.count()
        run.note(database=connection.vendor, requests=requests, events=events)
        print(f"database: {connection.vendor}; requests: {requests:,}; events: {events:,}")
        pages(run, args.rounds, args.count)
        if not args.pages_only:
            export(run, args)


if __name__ == "__main__":
    main()
