"""A request page's poll that finds nothing changed, against a bare view, for every polling
state and role: throughput as a fraction of the bare view's (aim 0.8) and queries per poll.

Paired, interleaved rounds; DEBUG=false; the bare view is `login_required` returning "ok"
behind the same middleware and session, as the same user.

    .venv/bin/python bench/poll.py [--rounds 15] [--count 300]
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

import django

django.setup()

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402
from django.urls import include, path  # noqa: E402

from bench.paired import paired  # noqa: E402


@login_required
def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("bare/", bare), path("", include("portal.urls"))]
HTMX = {"HX-Request": "true"}
STATES = ["pending_approval", "approved", "provisioning", "creating", "applying", "failed"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from portal.service_requests.models import Kind, ServiceRequest

        User = get_user_model()
        people = {
            "requester": User.objects.create_user("bench-requester"),
            "approver": User.objects.create_user("bench-approver"),
            "auditor": User.objects.create_user("bench-auditor"),
        }
        people["approver"].groups.add(Group.objects.create(name="approvers"))
        people["auditor"].groups.add(Group.objects.create(name="auditors"))
        rows = []
        with override_settings(ROOT_URLCONF=__name__):
            for state in STATES:
                kind = Kind.CHANGE if state == "applying" else Kind.CREATE
                request = ServiceRequest.objects.create(
                    requester=people["requester"], region_id="cn-hangzhou", state=state, kind=kind
                )
                for _ in range(30):
                    request.record("cloud_call", actor=None, details={"cloud_call": {}})
                request.refresh_from_db()
                url = (
                    f"/requests/{request.pk}/status/?v={request.version}"
                    f"&r={request.revision}&s={request.state}"
                )
                for role, user in people.items():
                    client = Client()
                    client.force_login(user)
                    response = client.get(url, headers=HTMX)
                    assert response.status_code == 204, (state, role, response.status_code)
                    queries = []

                    def count(execute, sql, *rest, queries=queries):
                        queries.append(sql)
                        return execute(sql, *rest)

                    with connection.execute_wrapper(count):
                        client.get(url, headers=HTMX)
                    _a, _b, ratios = paired(
                        lambda client=client: client.get("/bare/"),
                        lambda client=client, url=url: client.get(url, headers=HTMX),
                        rounds=args.rounds,
                        count=args.count,
                    )
                    # Time ratio bare/poll = the poll's throughput as a share of the bare view's.
                    rows.append((state, role, statistics.median(ratios), len(queries)))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"no-change poll vs bare view, DEBUG=false, {args.rounds} rounds x {args.count}")
    print(f"{'state':18} {'role':10} {'throughput ratio':>17} {'queries':>8}")
    for state, role, ratio, queries in rows:
        print(f"{state:18} {role:10} {ratio:17.2f} {queries:8d}")
    ratios = [r[2] for r in rows]
    print(f"worst {min(ratios):.2f}, median {statistics.median(ratios):.2f} (aim >= 0.8)")


if __name__ == "__main__":
    main()
