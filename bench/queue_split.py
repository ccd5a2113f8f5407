"""The split approvers' queue on a large database: `/approvals/` and an approver's dashboard
against the requester's dashboard (issue 11's baseline: throughput >= 0.5x), paired rounds.

Two cases for the approver: the queue's version unchanged since their last view (counts and
the list of what waits for others come from the cache: the common case), and the version
moved before every view (each one recomputes them: the worst case, right after every
decision). Needs a large database with approvers named lead* and requesters dev* (as
`manage.py generate_history --requests 100000` makes; DATABASE_URL); DEBUG=false.
`bench/routed_queue_data.py` adds a large routed queue to a smaller history, with a team's
approvers (`teamlead00`, ...) to time with `--user`.

    DATABASE_URL=postgres://... .venv/bin/python bench/queue_split.py [--rounds 11] [--count 20]
        [--user teamlead00]

`--user` times that decider's pages (a team's approver, say) instead of the approver with
most approvals on pending requests. Each page's query count is printed with its size.
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

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    override_settings,
    setup_test_environment,
)

from bench.history import STORAGES  # noqa: E402
from bench.paired import paired  # noqa: E402
from portal.service_requests import queue  # noqa: E402
from portal.service_requests.models import Approval, State  # noqa: E402


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@override_settings(STORAGES=STORAGES)
def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--user", help="the decider to time (default: the busiest approver)")
    args = parser.parse_args()
    setup_test_environment()
    User = get_user_model()
    # The approver with most approvals on pending requests: the largest "waiting for others".
    busiest = (
        Approval.objects.filter(request__state=State.PENDING_APPROVAL)
        .values("approver")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    approver = User.objects.get(
        **({"username": args.user} if args.user else {"pk": busiest["approver"]})
    )
    requester = User.objects.filter(username__startswith="dev").order_by("username").first()
    approver_client, requester_client = client_for(approver), client_for(requester)
    pages = {
        "/approvals/": lambda: approver_client.get("/approvals/"),
        "approver dashboard": lambda: approver_client.get("/"),
    }
    for page in pages.values():
        assert page().status_code == 200
    print(
        f"{queue.pending_count(approver):,} waiting for {approver.username}, "
        f"{Approval.objects.filter(approver=approver).count():,} approvals by them in all"
    )
    baseline = lambda: requester_client.get("/")  # noqa: E731
    with CaptureQueriesContext(connection) as base_queries:
        baseline()
    print(f"requester dashboard ({requester.username}): {len(base_queries)} queries")
    for name, page in pages.items():
        size = len(page().content)
        with CaptureQueriesContext(connection) as cached_queries:
            page()
        queue.changed()
        with CaptureQueriesContext(connection) as moved_queries:
            page()
        print(
            f"{name}: {len(cached_queries)} queries cached, {len(moved_queries)} with the "
            f"version moved"
        )
        moved = lambda page=page: (queue.changed(), page())  # noqa: E731
        for case, call in [("cached", page), ("version moved", moved)]:
            ours, base, ratios = paired(call, baseline, rounds=args.rounds, count=args.count)
            med = statistics.median
            print(
                f"{name:20} {case:14} {med(ours) * 1000:7.2f} ms vs requester dashboard "
                f"{med(base) * 1000:7.2f} ms: time ratio {med(ratios):.2f} "
                f"(throughput {1 / med(ratios):.2f}x, aim >= 0.5), {size:,} bytes"
            )


if __name__ == "__main__":
    main()
