"""Status fragment requests per second against a bare view behind the same middleware and
session, in one run; prints the ratio (aim: 0.6 or better) and queries per request (aim: 4).

    .venv/bin/python bench/status.py [--requests 2000] [--events 200]

Runs in-process with Django's test client on a throw-away SQLite database, logged in as the
requester of a request that is `creating` and has --events audit events behind it.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    override_settings,
    setup_test_environment,
)
from django.urls import include, path  # noqa: E402


@login_required
def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("bare/", bare), path("", include("portal.urls"))]


def measure(client, url, count, headers):
    started = time.perf_counter()
    for _ in range(count):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.status_code
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        from django.contrib.auth import get_user_model

        from portal.service_requests.models import RequestResource, ServiceRequest, State

        user = get_user_model().objects.create_user("bench", password="x")
        request = ServiceRequest.objects.create(
            requester=user,
            region_id="cn-hangzhou",
            service_resource_type="nlb",
            state=State.CREATING,
            service_id="epsrv-benchbenchbenchbench",
        )
        RequestResource.objects.create(
            request=request,
            resource_type="nlb",
            resource_id="nlb-hz0000000000000001",
            zone_id="cn-hangzhou-h",
        )
        for _ in range(args.events):
            request.record("cloud_call", actor=None, details={"cloud_call": {"action": "Get"}})
        with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
            client = Client()
            client.force_login(user)
            status_url = f"/requests/{request.pk}/status/"
            htmx = {"HX-Request": "true"}
            with CaptureQueriesContext(connection) as queries:
                client.get(status_url, headers=htmx)
            status_queries = len(queries)
            with CaptureQueriesContext(connection) as queries:
                client.get("/bare/")
            bare_queries = len(queries)
            measure(client, status_url, 100, htmx)
            measure(client, "/bare/", 100, {})
            status_rates, bare_rates = [], []
            for _ in range(args.rounds):
                status_rates.append(measure(client, status_url, args.requests, htmx))
                bare_rates.append(measure(client, "/bare/", args.requests, {}))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    status, bare_rate = max(status_rates), max(bare_rates)
    print(f"requests per round: {args.requests}, audit events behind the request: {args.events}")
    print(f"status fragment: {status:8.0f} req/s, {status_queries} queries per request")
    print(f"bare view:       {bare_rate:8.0f} req/s, {bare_queries} queries per request")
    print(f"ratio status/bare: {status / bare_rate:.2f} (aim: 0.6 or better; queries aim: <= 4)")


if __name__ == "__main__":
    main()
