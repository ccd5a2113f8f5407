"""/services/ at 10,000 services against the Django admin's changelist and a plain ListView.

Paired, interleaved rounds, as the same superuser on every side, DEBUG=false, ANALYZE after
the load on PostgreSQL.

    .venv/bin/python bench/services_list.py [--services 10000] [--rounds 15] [--count 5]
    .venv/bin/python bench/services_list.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench_services

The admin is the project's own EndpointServiceAdmin, configured as its docs advise for large
tables (show_full_result_count=False, filters that add no DISTINCT). The plain ListView is a
Paginator (with its full COUNT) over the same rows, in the same layout.

Figures, each a value per round, <database> being sqlite or postgresql:
services_list.<database>.<case>_vs_admin for the cases unfiltered, status_active, search and
page_20 (our time over the admin's), services_list.<database>.median_vs_admin (the median of
the four in each round; aim <= 0.5) and services_list.<database>.vs_plain (unfiltered, over the
plain ListView's time).

What it checks, and stops on (exit status 2) when it did not time the pages it claims: each
page answers 200 as the real page (ours: "Service catalog"; the admin: id="changelist"; the
plain list: its own heading), signed in as the bench's superuser, on the page number asked,
with a full page of rows (50 ours and the plain list's, the admin's list_per_page); and every
answer timed had the status and the size of the page checked. Page 20 needs at least 1,901
services (the admin shows 100 a page).
"""

import argparse
import random
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.paired import paired
from bench.report import Run, expect
from bench.support import answer, check_timed, configure, describe

USERNAME = "bench-admin"
ADMIN = "/admin/endpoint_services/endpointservice/"
# Ours and the plain list: a link to the service in each row's first cell.
LIST_ROW = re.compile(rb'<td><a href="/services/[^"/]+/"><code>')
# The admin's changelist: a row's first cell right after its <tr>, as the header's is not.
ADMIN_ROW = re.compile(rb"<tr><t[hd] class=")
CASES = [
    # (figure, ours, the admin's, page number)
    ("unfiltered", "/services/", ADMIN, 1),
    ("status_active", "/services/?status=active", f"{ADMIN}?status__exact=active", 1),
    ("search", "/services/?q=payments", f"{ADMIN}?q=payments", 1),
    ("page_20", "/services/?page=20", f"{ADMIN}?p=20", 20),
]


def check_page(response, what, markers, row, rows):
    """`response` is the page `what`: a 200 holding every marker and `rows` rows."""
    expect(response.status_code == 200, f"{what} answered {describe(response)}, not the page")
    body = response.content
    missing = [marker.decode() for marker in markers if marker not in body]
    expect(not missing, f"{what} ({len(body):,} bytes) is not the page: {missing} missing")
    found = len(row.findall(body))
    expect(
        found == rows,
        f"{what} shows {found} rows, not a full page of {rows} (too few services loaded?)",
    )


def check_ours(response, what, page, rows):
    markers = [b"<h1>Service catalog</h1>", f"Log out {USERNAME}".encode()]
    check_page(response, what, [*markers, f"<li>Page {page}</li>".encode()], LIST_ROW, rows)


def check_admin(response, what, page, rows):
    markers = [b'id="changelist"', f"<strong>{USERNAME}</strong>".encode()]
    if page > 1:
        markers.append(f'<span class="this-page">{page}</span>'.encode())
    check_page(response, what, markers, ADMIN_ROW, rows)


def check_plain(response, what, rows):
    markers = [b"<h1>Endpoint services</h1>", f"Log out {USERNAME}".encode()]
    check_page(response, what, markers, LIST_ROW, rows)


def plain_list(request):
    """The baseline: a ListView's Paginator, full COUNT included, over the same rows."""
    from django.core.paginator import Paginator
    from django.shortcuts import render

    from portal.endpoint_services.models import EndpointService

    queryset = (
        EndpointService.objects.filter(managed=True)
        .exclude(status="deleted")
        .select_related("owner")
        .order_by("-created_at", "-id")
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "bench/plain_services.html", {"page": page})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=5, help="requests per side per round")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    configure(args.database_url)

    from django.conf import settings
    from django.contrib import admin
    from django.db import connection
    from django.test.utils import override_settings, setup_test_environment
    from django.urls import include, path

    sys.modules[__name__].urlpatterns = [
        path("plain/", plain_list),
        path("admin/", admin.site.urls),
        path("", include("portal.urls")),
    ]
    templates = Path(__file__).resolve().parent / "templates"
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    template_settings = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], templates]}
    ]
    with Run("bench/services_list.py") as run:
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            owner = load(args.services)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            with override_settings(
                ROOT_URLCONF=__name__, STORAGES=storages, TEMPLATES=template_settings
            ):
                print(
                    f"{args.services} services, {connection.vendor}, DEBUG=false, "
                    f"{args.rounds} rounds x {args.count} requests per side"
                )
                measure(run, args, owner, connection.vendor)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)


def measure(run, args, owner, database):
    """Check every page, then time each case against the admin and ours against /plain/."""
    from django.contrib import admin
    from django.test import Client

    from portal.catalog.views import PAGE_SIZE
    from portal.endpoint_services.models import EndpointService

    admin_rows = admin.site.get_model_admin(EndpointService).list_per_page
    client = Client()
    client.force_login(owner)

    def timed(url, answers):
        return lambda: answers.append(answer(client.get(url)))

    # Every page is checked before any is timed: a miss stops the run before it costs minutes.
    checked = {}
    for name, ours, theirs, page in CASES:
        checked[ours], checked[theirs] = client.get(ours), client.get(theirs)
        check_ours(checked[ours], f"ours, {name} ({ours})", page, PAGE_SIZE)
        check_admin(checked[theirs], f"the admin, {name} ({theirs})", page, admin_rows)
    checked["/plain/"] = client.get("/plain/")
    check_plain(checked["/plain/"], "the plain ListView (/plain/)", 50)
    vs_admin = []
    for name, ours, theirs, _page in CASES:
        ours_answers, their_answers = [], []
        ours_times, their_times, ratios = paired(
            timed(ours, ours_answers),
            timed(theirs, their_answers),
            rounds=args.rounds,
            count=args.count,
        )
        check_timed(ours_answers, answer(checked[ours]), f"ours, {name}")
        check_timed(their_answers, answer(checked[theirs]), f"the admin, {name}")
        vs_admin.append(ratios)
        figure = f"services_list.{database}.{name}_vs_admin"
        run.figure(
            figure,
            ratios,
            unit="x the admin",
            label=f"{figure} (ours {median_ms(ours_times)}, the admin {median_ms(their_times)})",
        )
    run.figure(
        f"services_list.{database}.median_vs_admin",
        [statistics.median(r) for r in zip(*vs_admin, strict=True)],
        unit="x the admin, median of the cases",
        aim=("<=", 0.5),
    )
    ours_answers, plain_answers = [], []
    ours_times, plain_times, ratios = paired(
        timed("/services/", ours_answers),
        timed("/plain/", plain_answers),
        rounds=args.rounds,
        count=args.count,
    )
    check_timed(ours_answers, answer(checked["/services/"]), "ours, unfiltered")
    check_timed(plain_answers, answer(checked["/plain/"]), "the plain ListView")
    figure = f"services_list.{database}.vs_plain"
    run.figure(
        figure,
        ratios,
        unit="x the plain ListView",
        label=f"{figure} (ours {median_ms(ours_times)}, plain {median_ms(plain_times)})",
    )
    run.note(
        services=args.services,
        database=database,
        rows={"ours": PAGE_SIZE, "admin": admin_rows, "plain": 50},
    )


def median_ms(times):
    return f"{statistics.median(times) * 1000:.1f} ms"


def load(count):
    """Write `count` services (a fifth of them the bench user's) and return that user."""
    from django.contrib.auth import get_user_model

    from portal.endpoint_services.models import EndpointService

    rng = random.Random(9)
    User = get_user_model()
    # The load test adds these services to the history benchmark's database, which has one.
    owner = User.objects.filter(username=USERNAME).first() or User.objects.create_superuser(
        USERNAME, password="x"
    )
    others = [User(username=f"owner{n:02d}") for n in range(40)]
    User.objects.bulk_create(others, ignore_conflicts=True)
    others = list(User.objects.filter(username__startswith="owner"))
    regions = ["cn-hangzhou", "cn-shanghai", "ap-southeast-1", "cn-huhehaote"]
    teams = ["payments", "orders", "search", "identity", "billing", "catalog"]
    rows = []
    for n in range(count):
        region = rng.choice(regions)
        service_id = f"epsrv-bench{n:015d}"
        rows.append(
            EndpointService(
                service_id=service_id,
                region_id=region,
                service_name=f"com.aliyuncs.privatelink.{region}.{service_id}",
                service_domain=f"{service_id}.{region}.privatelink.aliyuncs.com",
                status=rng.choices(["active", "pending", "deleted"], [90, 2, 8])[0],
                owner=owner if n % 5 == 0 else rng.choice(others),
                service_description=f"{rng.choice(teams)} API {n}",
                service_resource_type="nlb",
                address_ip_version="IPv4",
                zones=[f"{region}-a", f"{region}-b"],
                resources=[
                    {"resource_type": "nlb", "resource_id": f"nlb-{n}", "zone_id": f"{region}-a"}
                ],
                tags=[{"key": "team", "value": rng.choice(teams)}],
            )
        )
    EndpointService.objects.bulk_create(rows, batch_size=2000)
    return owner


if __name__ == "__main__":
    main()
