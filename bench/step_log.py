"""A request page's poll that finds a change (status, step log, history) for a request with
as many cloud calls as the step log shows (STEP_LOG_EVENTS) against one with thousands: the
log reads a page's worth of them, so the ratio should stay near 1 however long the request
has lived. A request with ten calls is timed too, for scale.

Paired, interleaved rounds; DEBUG=false.

    .venv/bin/python bench/step_log.py [--rounds 15] [--count 50] [--calls 5000]
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

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from bench.paired import paired, summary, time_calls  # noqa: E402

HTMX = {"HX-Request": "true"}
CALL = {
    "action": "GetVpcEndpointServiceAttribute",
    "parameters": {"RegionId": "cn-hangzhou", "ServiceId": "epsrv-bench"},
    "outcome": "ok",
    "request_id": "2D5E7C1A-0000-4000-8000-000000000000",
    "duration_ms": 12,
    "status": 200,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from django.contrib.auth import get_user_model

        from portal.service_requests.models import ServiceRequest
        from portal.service_requests.step_log import STEP_LOG_EVENTS

        user = get_user_model().objects.create_user("bench-requester")
        urls = []
        counts = (10, STEP_LOG_EVENTS, args.calls)
        for calls in counts:
            request = ServiceRequest.objects.create(requester=user, region_id="cn-hangzhou")
            previous = request.state
            for state in ("pending_approval", "approved", "provisioning", "creating"):
                request.state = state
                request.record("moved", actor=None, from_state=previous)
                previous = state
            ServiceRequest.objects.filter(pk=request.pk).update(state="creating")
            for _ in range(calls):
                request.record("cloud_call", actor=None, details={"cloud_call": CALL})
            # An old version: every poll finds a change and renders the whole fragment.
            urls.append(f"/requests/{request.pk}/status/?v=1&r=0&s=creating")
        client = Client()
        client.force_login(user)
        sizes = []
        for url in urls:
            response = client.get(url, headers=HTMX)
            assert response.status_code == 200, response.status_code
            sizes.append(len(response.content))
        few = time_calls(lambda: client.get(urls[0], headers=HTMX), args.rounds * args.count)
        long_times, capped_times, ratios = paired(
            lambda: client.get(urls[2], headers=HTMX),
            lambda: client.get(urls[1], headers=HTMX),
            rounds=args.rounds,
            count=args.count,
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"changed poll, DEBUG=false, {args.rounds} rounds x {args.count}")
    print(
        "fragment bytes: " + ", ".join(f"{n} calls {b}" for n, b in zip(counts, sizes, strict=True))
    )
    print(f"10 calls: {few * 1000:.2f} ms")
    print(summary(f"{args.calls} calls vs {counts[1]}", long_times, capped_times, ratios))
    print(f"median time ratio {statistics.median(ratios):.2f} (aim: near 1)")


if __name__ == "__main__":
    main()
