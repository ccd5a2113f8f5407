"""A service's page with 1,000 connections and 1,000 allow-list entries, against the Django
admin's changelist of the same connections.

Paired, interleaved rounds, as the same superuser on both sides, DEBUG=false, ANALYZE after
the load on PostgreSQL. Prints the page's query count with 10 and with 1,000 of each (they must
be equal) and the median of the per-round time ratios (aim: at most 0.5 of the admin).

    .venv/bin/python bench/service_page.py [--rows 1000] [--rounds 15]
    .venv/bin/python bench/service_page.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench_page

The admin is the project's own EndpointConnectionAdmin (read-only, show_full_result_count off).
Half of the allow-list entries and connections come with the applied access request that
admitted their account, as the portal makes them; the connections reading is fresh, so that
the page makes no cloud call.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "AUDIT_HMAC_KEYS": "bench:bench-only-audit-key-" + "x" * 32,
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
    }
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=5, help="requests per side per round")
    parser.add_argument("--database-url")
    parser.add_argument("--queries", action="store_true", help="print the page's SQL")
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import (
        CaptureQueriesContext,
        override_settings,
        setup_test_environment,
    )

    from bench.paired import paired, summary

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        with override_settings(STORAGES=storages, CONNECTIONS_MAX_AGE=10**9):
            admin_user, small = load("epsrv-small0000000000000", 10)
            _admin, large = load("epsrv-large0000000000000", args.rows, admin_user=admin_user)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            client = Client()
            client.force_login(admin_user)
            counts = {}
            for service in (small, large):
                url = f"/services/{service.service_id}/"
                assert client.get(url).status_code == 200
                with CaptureQueriesContext(connection) as queries:
                    page = client.get(url)
                assert page.status_code == 200
                counts[service.service_id] = len(queries.captured_queries)
                if args.queries and service is large:
                    for query in queries.captured_queries:
                        print(query["sql"][:150])
            print(
                f"{args.rows} connections and {args.rows} allow-list entries, {connection.vendor}, "
                f"DEBUG=false, {args.rounds} rounds x {args.count} requests per side"
            )
            print(
                f"queries per page: {counts[small.service_id]} with 10 of each, "
                f"{counts[large.service_id]} with {args.rows} of each (must be equal)"
            )
            ours = f"/services/{large.service_id}/"
            # The admin's own search for the service (search_fields has =service__service_id).
            theirs = f"/admin/endpoint_services/endpointconnection/?q={large.service_id}"
            assert client.get(theirs).status_code == 200
            a, b, ratios = paired(
                lambda: client.get(ours),
                lambda: client.get(theirs),
                rounds=args.rounds,
                count=args.count,
            )
            print(summary("  service page vs admin changelist", a, b, ratios))
            print(f"median ratio: {statistics.median(ratios):.2f} (aim <= 0.5)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


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
