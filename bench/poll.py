"""A request page's poll that finds nothing changed, against a bare view, for every polling
state and role: throughput as a fraction of the bare view's (aim 0.8) and queries per poll
beyond the session's and the user's (aim <= 2).

Paired, interleaved rounds; DEBUG=false; the bare view is `login_required` returning "ok"
behind the same middleware and session, as the same user.

    .venv/bin/python bench/poll.py [--rounds 15] [--count 300]

Figures, each a value per round: poll.worst and poll.median (the worst and the median of the
state x role cells' ratios in that round), poll.queries_beyond_session (the most of any cell).

What it checks, and stops on (exit status 2) when it did not measure a no-change poll: every
poll it timed answered an empty 204 (a redirect to sign in, or a 200 that found a change, is
another thing), every bare view answered 200 "ok", and the queries counted include the
session's and the user's (so that "beyond" subtracts what it says).
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.paired import paired
from bench.report import Run, expect
from bench.support import answer, check_timed, configure, describe

HTMX = {"HX-Request": "true"}
STATES = ["pending_approval", "approved", "provisioning", "creating", "applying", "failed"]
NO_CHANGE = (204, 0)  # a poll that finds nothing changed: status and bytes
BARE = (200, 2)  # the bare view's "ok"
SESSION_AND_USER = 2  # the queries any signed-in request makes with database sessions


def check_poll(response, cell):
    """A no-change poll answers an empty 204."""
    expect(
        (response.status_code, len(response.content)) == NO_CHANGE,
        f"{cell}: the poll answered {describe(response)}, where a poll that finds nothing "
        "changed answers an empty 204",
    )


def check_bare(response):
    expect(
        response.status_code == 200 and response.content == b"ok",
        f"the bare view answered {describe(response)}, not 200 'ok'",
    )


def check_queries(poll, bare, cell):
    """Return the poll's queries beyond the bare view's (the session's and the user's)."""
    expect(
        bare == SESSION_AND_USER,
        f"{cell}: the bare view made {bare} queries, not the session's and the user's "
        f"{SESSION_AND_USER}: 'beyond session and user' would not subtract them",
    )
    return poll - bare


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    configure()

    from django.contrib.auth.decorators import login_required
    from django.db import connection
    from django.http import HttpResponse
    from django.test.utils import setup_test_environment
    from django.urls import include, path

    @login_required
    def bare(request):
        return HttpResponse("ok")

    sys.modules[__name__].urlpatterns = [path("bare/", bare), path("", include("portal.urls"))]

    with Run("bench/poll.py") as run:
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            cells = measure(args)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        report(run, args, cells)


def measure(args):
    """Time every state x role cell; return {(state, role): (ratios, queries beyond)}."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from portal.service_requests.models import Kind, ServiceRequest

    User = get_user_model()
    people = {
        "requester": User.objects.create_user("bench-requester"),
        "approver": User.objects.create_user("bench-approver"),
        "auditor": User.objects.create_user("bench-auditor"),
    }
    people["approver"].groups.add(Group.objects.create(name="approvers"))
    people["auditor"].groups.add(Group.objects.create(name="auditors"))
    cells = {}
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
                cell = f"{state} as {role}"
                client = Client()
                client.force_login(user)
                check_poll(client.get(url, headers=HTMX), cell)
                check_bare(client.get("/bare/"))
                beyond = []

                def count_queries(_round, client=client, url=url, cell=cell, beyond=beyond):
                    # Between rounds, outside the clock: a cache that warmed up would show.
                    with CaptureQueriesContext(connection) as poll:
                        check_poll(client.get(url, headers=HTMX), cell)
                    with CaptureQueriesContext(connection) as bare:
                        check_bare(client.get("/bare/"))
                    beyond.append(check_queries(len(poll), len(bare), cell))

                bare_answers, poll_answers = [], []
                _bare_times, _poll_times, ratios = paired(
                    lambda client=client, answers=bare_answers: answers.append(
                        answer(client.get("/bare/"))
                    ),
                    lambda client=client, url=url, answers=poll_answers: answers.append(
                        answer(client.get(url, headers=HTMX))
                    ),
                    rounds=args.rounds,
                    count=args.count,
                    before_round=count_queries,
                )
                check_timed(poll_answers, NO_CHANGE, f"{cell}, the poll")
                check_timed(bare_answers, BARE, f"{cell}, the bare view")
                # Time ratio bare/poll = the poll's throughput as a share of the bare view's.
                cells[state, role] = (ratios, beyond)
    return cells


def report(run, args, cells):
    print(f"no-change poll vs bare view, DEBUG=false, {args.rounds} rounds x {args.count}")
    print(f"{'state':18} {'role':10} {'throughput ratio (range)':>25} {'queries beyond':>15}")
    for (state, role), (ratios, beyond) in cells.items():
        spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"{state:18} {role:10} {spread:>25} {max(beyond):15d}")
    by_round = list(zip(*(ratios for ratios, _beyond in cells.values()), strict=True))
    run.note(cells=len(cells), rounds=args.rounds, count=args.count)
    run.figure("poll.worst", [min(r) for r in by_round], unit="x bare view", aim=(">=", 0.8))
    run.figure(
        "poll.median",
        [statistics.median(r) for r in by_round],
        unit="x bare view",
        aim=(">=", 0.8),
    )
    queries = list(zip(*(beyond for _ratios, beyond in cells.values()), strict=True))
    run.figure(
        "poll.queries_beyond_session",
        [max(r) for r in queries],
        unit="queries beyond session and user, most of any cell",
        aim=("<=", 2),
        digits=0,
    )


if __name__ == "__main__":
    main()
