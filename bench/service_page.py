"""A service's page with 1,000 connections and 1,000 allow-list entries, against the Django
admin's changelist of the same connections.

Paired, interleaved rounds, as the same superuser on both sides, DEBUG=false, ANALYZE after
the load on PostgreSQL.

    .venv/bin/python bench/service_page.py [--rows 1000] [--rounds 15] [--count 5]
    .venv/bin/python bench/service_page.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench_page

The admin is the project's own EndpointConnectionAdmin (read-only, show_full_result_count off).
Half of the allow-list entries and connections come with the applied access request that
admitted their account, as the portal makes them; the connections reading is fresh, so that
the page makes no cloud call.

Figures, <database> being sqlite or postgresql: service_page.<database>.vs_admin (our page's
time over the admin's, a value per round; aim <= 0.5).

What it checks, and stops on (exit status 2) when it did not time the pages it claims: our
page answers 200 as that service's page (its ServiceId heading, id="service-status", signed in
as the bench's superuser) with a page of its connections and of its allow-list (all of them up
to 50 each); the admin answers its changelist (id="changelist", signed in) with a full page
of the service's connections; the page makes as many queries with 10 of each as with --rows
of each (the claim the figure rests on); and every answer timed had the status and the size
of the page checked.
"""

import argparse
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.paired import paired
from bench.report import Run, expect
from bench.support import answer, check_timed, configure, describe

USERNAME = "bench-admin"
ADMIN = "/admin/endpoint_services/endpointconnection/"
CONNECTION_ROW = re.compile(rb'<tr id="connection-')
ALLOWED_ROW = re.compile(rb'<tr id="allowed-')
# The admin's changelist: a row's first cell right after its <tr>, as the header's is not.
ADMIN_ROW = re.compile(rb"<tr><t[hd] class=")


def check_page(response, what, markers):
    """`response` is the page `what`: a 200 holding every marker. Return its body."""
    expect(response.status_code == 200, f"{what} answered {describe(response)}, not the page")
    body = response.content
    missing = [marker.decode() for marker in markers if marker not in body]
    expect(not missing, f"{what} ({len(body):,} bytes) is not the page: {missing} missing")
    return body


def check_rows(body, what, row, rows):
    found = len(row.findall(body))
    expect(found == rows, f"{what} shows {found} rows, not {rows}")


def check_service_page(response, service_id, connections, allowed):
    """Our page of `service_id`, with `connections` and `allowed` rows shown."""
    what = f"the page of {service_id}"
    markers = [
        f"<h1><code>{service_id}</code></h1>".encode(),
        b'id="service-status"',
        f"Log out {USERNAME}".encode(),
    ]
    body = check_page(response, what, markers)
    check_rows(body, f"{what}'s connections", CONNECTION_ROW, connections)
    check_rows(body, f"{what}'s allow-list", ALLOWED_ROW, allowed)


def check_admin(response, service_id, rows):
    """The admin's changelist of `service_id`'s connections, `rows` of them shown."""
    what = f"the admin's connections of {service_id}"
    markers = [b'id="changelist"', f"<strong>{USERNAME}</strong>".encode()]
    check_rows(check_page(response, what, markers), what, ADMIN_ROW, rows)


def check_queries(counts):
    """The page's queries, {rows of each: count}, do not grow with its rows."""
    expect(
        len(set(counts.values())) == 1,
        "the page's queries grow with its rows: "
        + ", ".join(f"{n} with {rows} of each" for rows, n in counts.items()),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=5, help="requests per side per round")
    parser.add_argument("--database-url")
    parser.add_argument("--queries", action="store_true", help="print the page's SQL")
    args = parser.parse_args()
    configure(args.database_url)

    from django.db import connection
    from django.test.utils import override_settings, setup_test_environment

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with Run("bench/service_page.py") as run:
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            with override_settings(STORAGES=storages, CONNECTIONS_MAX_AGE=10**9):
                measure(run, args, connection)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)


def measure(run, args, connection):
    """Load both services, check both pages and the query counts, then time the pair."""
    from django.contrib import admin
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.catalog.views import ALLOW_LIST_PAGE, CONNECTIONS_PAGE
    from portal.endpoint_services.models import EndpointConnection

    admin_user, small = load("epsrv-small0000000000000", 10)
    _admin, large = load("epsrv-large0000000000000", args.rows, admin_user=admin_user)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = Client()
    client.force_login(admin_user)
    counts = {}
    for service, rows in ((small, 10), (large, args.rows)):
        url = f"/services/{service.service_id}/"
        client.get(url)  # the first answer fills caches the timed ones find full
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url)
        check_service_page(
            page, service.service_id, min(rows, CONNECTIONS_PAGE), min(rows, ALLOW_LIST_PAGE)
        )
        counts[rows] = len(queries.captured_queries)
        if args.queries and service is large:
            for query in queries.captured_queries:
                print(query["sql"][:150])
    print(
        f"{args.rows} connections and {args.rows} allow-list entries, {connection.vendor}, "
        f"DEBUG=false, {args.rounds} rounds x {args.count} requests per side"
    )
    print(
        f"queries per page: {counts[10]} with 10 of each, "
        f"{counts[args.rows]} with {args.rows} of each (must be equal)"
    )
    check_queries(counts)
    ours = f"/services/{large.service_id}/"
    # The admin's own search for the service (search_fields has =service__service_id).
    theirs = f"{ADMIN}?q={large.service_id}"
    admin_rows = admin.site.get_model_admin(EndpointConnection).list_per_page
    ours_page, their_page = client.get(ours), client.get(theirs)
    check_admin(their_page, large.service_id, min(args.rows, admin_rows))
    ours_answers, their_answers = [], []
    ours_times, their_times, ratios = paired(
        lambda: ours_answers.append(answer(client.get(ours))),
        lambda: their_answers.append(answer(client.get(theirs))),
        rounds=args.rounds,
        count=args.count,
    )
    check_timed(ours_answers, answer(ours_page), "the service's page")
    check_timed(their_answers, answer(their_page), "the admin's changelist")
    run.note(rows=args.rows, database=connection.vendor, queries=counts)
    figure = f"service_page.{connection.vendor}.vs_admin"
    run.figure(
        figure,
        ratios,
        unit="x the admin changelist",
        aim=("<=", 0.5),
        label=(
            f"{figure} (ours {statistics.median(ours_times) * 1000:.1f} ms, the admin "
            f"{statistics.median(their_times) * 1000:.1f} ms)"
        ),
    )


def load(service_id, rows, admin_user=None):
    """One active service with `rows` connections and allow-list entries; half of them with
    the applied access request that admitted their account. Return (superuser, service)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from portal.endpoint_services.models import EndpointConnection, EndpointService
    from portal.service_requests.models import Kind, ServiceRequest, State

    User = get_user_model()
    admin_user = admin_user or User.objects.create_superuser("bench-admin", password="x")
    asker = User.objects.get_or_create(username="bench-asker")[0]
    region = "cn-hangzhou"
    service = EndpointService.objects.create(
        service_id=service_id,
        region_id=region,
        service_name=f"com.aliyuncs.privatelink.{region}.{service_id}",
        service_domain=f"{service_id}.{region}.privatelink.aliyuncs.com",
        status="active",
        cloud_status="Active",
        owner=admin_user,
        service_description="Orders API",
        service_resource_type="nlb",
        address_ip_version="IPv4",
        zones=[f"{region}-h", f"{region}-i"],
        resources=[{"resource_type": "nlb", "resource_id": "nlb-1", "zone_id": f"{region}-h"}],
        tags=[{"key": "team", "value": "orders"}],
        connections_read_at=timezone.now(),
    )
    accounts = [f"{2000000000000000 + n}" for n in range(rows)]
    service.allowed_users = accounts
    service.approved = {**service.config(), "allowed_users": accounts}
    service.save()
    requests = ServiceRequest.objects.bulk_create(
        ServiceRequest(
            kind=Kind.ACCESS,
            requester=asker,
            endpoint_service=service,
            service_id=service.service_id,
            region_id=region,
            account_id=account,
            justification="bench",
            state=State.APPLIED,
        )
        for account in accounts[::2]
    )
    by_account = {r.account_id: r for r in requests}
    statuses = ["Connected"] * 8 + ["Disconnected"]
    EndpointConnection.objects.bulk_create(
        EndpointConnection(
            service=service,
            endpoint_id=f"ep-{service_id[6:11]}{n:015d}",
            endpoint_owner_id=account,
            endpoint_vpc_id=f"vpc-{n:020d}",
            status=statuses[n % len(statuses)],
            bandwidth=3072,
            zones=[f"{region}-h"],
            access_request=by_account.get(account),
        )
        for n, account in enumerate(accounts)
    )
    return admin_user, service


if __name__ == "__main__":
    main()
