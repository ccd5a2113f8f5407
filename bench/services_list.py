"""/services/ at 10,000 services against the Django admin's changelist and a plain ListView.

Paired, interleaved rounds, as the same superuser on every side, DEBUG=false, ANALYZE after
the load; prints the median of the per-round ratios (aim: ours at most 0.5 of the admin).

    .venv/bin/python bench/services_list.py [--services 10000] [--rounds 15]
    .venv/bin/python bench/services_list.py --database-url postgres://postgres@127.0.0.1:5432/portal_bench_services

The admin is the project's own EndpointServiceAdmin, configured as its docs advise for large
tables (show_full_result_count=False, filters that add no DISTINCT). The plain ListView is a
Paginator (with its full COUNT) over the same rows, in the same layout.
"""

import argparse
import os
import random
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
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=5, help="requests per side per round")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url

    import django

    django.setup()
    from django.contrib import admin
    from django.core.paginator import Paginator
    from django.db import connection
    from django.shortcuts import render
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.urls import include, path

    from bench.paired import paired, summary

    def plain_list(request):
        from portal.endpoint_services.models import EndpointService

        queryset = (
            EndpointService.objects.filter(managed=True)
            .exclude(status="deleted")
            .select_related("owner")
            .order_by("-created_at", "-id")
        )
        page = Paginator(queryset, 50).get_page(request.GET.get("page"))
        return render(request, "bench/plain_services.html", {"page": page})

    module = sys.modules[__name__]
    module.urlpatterns = [
        path("plain/", plain_list),
        path("admin/", admin.site.urls),
        path("", include("portal.urls")),
    ]

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        owner = load(args.services)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        templates = Path(__file__).resolve().parent / "templates"
        storages = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        from django.conf import settings

        template_settings = [
            {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], templates]}
        ]
        with override_settings(
            ROOT_URLCONF=__name__, STORAGES=storages, TEMPLATES=template_settings
        ):
            client = Client()
            client.force_login(owner)
            cases = [
                ("unfiltered", "/services/", "/admin/endpoint_services/endpointservice/"),
                (
                    "status=active",
                    "/services/?status=active",
                    "/admin/endpoint_services/endpointservice/?status__exact=active",
                ),
                (
                    "text search",
                    "/services/?q=payments",
                    "/admin/endpoint_services/endpointservice/?q=payments",
                ),
                (
                    "page 20",
                    "/services/?page=20",
                    "/admin/endpoint_services/endpointservice/?p=19",
                ),
            ]
            print(
                f"{args.services} services, {connection.vendor}, DEBUG=false, "
                f"{args.rounds} rounds x {args.count} requests per side"
            )
            medians = []
            for name, ours, theirs in cases:
                for url in (ours, theirs):
                    assert client.get(url).status_code == 200, url
                a, b, ratios = paired(
                    lambda ours=ours: client.get(ours),
                    lambda theirs=theirs: client.get(theirs),
                    rounds=args.rounds,
                    count=args.count,
                )
                medians.append(statistics.median(ratios))
                print(summary(f"  {name:14} vs admin", a, b, ratios))
            a, b, ratios = paired(
                lambda: client.get("/services/"),
                lambda: client.get("/plain/"),
                rounds=args.rounds,
                count=args.count,
            )
            print(summary("  unfiltered     vs plain ListView", a, b, ratios))
            print(f"median of the admin ratios: {statistics.median(medians):.2f} (aim <= 0.5)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def load(count):
    """Write `count` services (a fifth of them the bench user's) and return that user."""
    from django.contrib.auth import get_user_model

    from portal.endpoint_services.models import EndpointService

    rng = random.Random(9)
    User = get_user_model()
    # The load test adds these services to the history benchmark's database, which has one.
    owner = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", password="x"
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
