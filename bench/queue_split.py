"""The split approvers' queue on a large database: `/approvals/` and an approver's dashboard
against the requester's dashboard (issue 11's baseline: throughput >= 0.5x), paired rounds.

Two cases for the approver: the queue's version unchanged since their last view (counts and
the list of what waits for others come from the cache: the common case), and the version
moved before every view (each one recomputes them: the worst case, right after every
decision). Each figure is the throughput of the page as a multiple of the requester
dashboard's, one value per paired round (the order alternating), printed as a median and
range. Needs a large database with approvers named lead* and requesters dev* (as
`manage.py generate_history --requests 100000` makes); DEBUG=false. `bench/routed_queue_data.py`
adds a large routed queue to a smaller history, with a team's approvers (`teamlead00`, ...)
to time with `--user`.

The database may be a copy that earlier runs wrote to (bench/check.py gives it load.py's, whose
users signed in by the thousand): each run signs its two users in with sessions of its own,
made for it and deleted after it, and on PostgreSQL runs ANALYZE first, so that the plans are
those of the data as it is, not as the statistics last saw it.

    .venv/bin/python bench/queue_split.py --database-url postgres://postgres@127.0.0.1:5432/mine \
        [--rounds 11] [--count 20] [--user teamlead00]

`--user` times that decider's pages (a team's approver, say) instead of the approver with
most approvals on pending requests (or, where none has any, the first in the approvers group).

What it checks, stopping with exit status 2 (bench/report.py) otherwise: something waits for
the approver; `/approvals/` says how many (heading and badge) and that is what the queue
counts, with a full page of them rendered (or all, if fewer); the approver's dashboard
renders as many of them as it shows; the requester's dashboard is their own list with their
rows; with the version moved, each view runs more queries than cached (the counts were
recomputed) and shows the same rows; every timed answer has the status and the bytes of the
one checked before timing; and between rounds each view still runs the queries it ran before
timing, cached or with the version moved.
"""

import argparse
import os
import re
import statistics
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import setup  # noqa: E402
from bench.report import Run, expect  # noqa: E402
from bench.support import STORAGES, answer, check_timed, timed_get  # noqa: E402


@dataclass(frozen=True)
class Page:
    """A page timed: its rows counted between `start` (its marker) and the next `end`."""

    name: str
    url: str
    start: bytes
    end: bytes


def rows_of(response, page):
    """The ids of the requests `page` lists in its section; NotMeasured unless it is the page."""
    from django.urls import reverse

    if response.status_code != 200:
        to = f" to {response['Location']}" if response.has_header("Location") else ""
        expect(False, f"{page.name} ({page.url}) answered {response.status_code}{to}, not 200")
    content = response.content
    at = content.find(page.start)
    expect(
        at >= 0,
        f"{page.name} ({page.url}) is not the page timed: no {page.start.decode()} in its "
        f"{len(content):,} bytes",
    )
    end = content.find(page.end, at)
    section = content[at : end if end >= 0 else None]
    detail = re.escape(reverse("service_requests:detail", args=[0]).removesuffix("0/").encode())
    return [int(pk) for pk in re.findall(rb'<td><a href="' + detail + rb'(\d+)/">#\1</a>', section)]


def waiting_shown(content):
    """The number /approvals/ says waits for the viewer: (its heading's, its badge's)."""
    heading = re.search(rb"<h2>Waiting for you <span class=\"muted\">\((\d+)\)</span>", content)
    badge = re.search(rb'<span class="badge" id="pending-count"[^>]*>(\d+)</span>', content)
    return (
        int(heading[1]) if heading else None,
        int(badge[1]) if badge else None,
    )


@contextmanager
def signed_in(*users):
    """A client for each of `users`, signed in with a session made for this run (none that
    an earlier run left), and deleted after it."""
    from django.test import Client

    clients = []
    try:
        for user in users:
            clients.append(Client())
            clients[-1].force_login(user)
        yield clients
    finally:
        for client in clients:
            client.session.delete()


def queries_of(client, url):
    """The queries a view of `url` runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def pick_approver(username):
    """The decider to time, and why them."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from portal.accounts.rights import APPROVERS_GROUP
    from portal.service_requests.models import Approval, State

    User = get_user_model()
    if username:
        user = User.objects.filter(username=username).first()
        expect(user, f"no user {username!r}")
        return user, "--user"
    busiest = (
        Approval.objects.filter(request__state=State.PENDING_APPROVAL)
        .values("approver")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if busiest:
        return User.objects.get(pk=busiest["approver"]), "most approvals on pending requests"
    first = User.objects.filter(groups__name=APPROVERS_GROUP).order_by("username").first()
    expect(first, "no approver in the database")
    return first, "first approver (nobody has approved a pending request)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--count", type=int, default=20, help="views per side per round")
    parser.add_argument("--user", help="the decider to time (default: the busiest approver)")
    args = parser.parse_args()
    expect(args.database_url, "no database: --database-url or DATABASE_URL")
    setup(args.database_url, 0, prepare=False)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import (
        CaptureQueriesContext,
        override_settings,
        setup_test_environment,
    )

    from bench.paired import paired
    from portal.approvals import queue
    from portal.requests.views import DASHBOARD_QUEUE
    from portal.service_requests.models import Approval, ServiceRequest, State

    setup_test_environment()
    with Run("bench/queue_split.py") as run, override_settings(STORAGES=STORAGES):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        approver, why = pick_approver(args.user)
        requester = (
            get_user_model().objects.filter(username__startswith="dev").order_by("username").first()
        )
        expect(requester, "no requester named dev*")
        pending = ServiceRequest.objects.filter(state=State.PENDING_APPROVAL).count()
        waiting = queue.pending_count(approver)
        theirs = ServiceRequest.objects.filter(requester=requester).count()
        expect(waiting > 0, f"nothing waits for {approver.username}: no queue to time")
        expect(theirs > 0, f"{requester.username} has no request: an empty dashboard")
        print(
            f"database: {connection.vendor}; {pending:,} pending, {waiting:,} waiting for "
            f"{approver.username} ({why}), "
            f"{Approval.objects.filter(approver=approver).count():,} approvals by them in all",
            flush=True,
        )
        run.note(
            database=connection.vendor,
            pending=pending,
            approver=approver.username,
            waiting_for_approver=waiting,
            requester=requester.username,
        )

        with signed_in(approver, requester) as (approver_client, requester_client):
            pages = {
                "approvals": Page(
                    "/approvals/", "/approvals/", b'<section id="waiting-for-you">', b"</section>"
                ),
                "dashboard": Page(
                    "approver dashboard", "/", b"<h2>Waiting for your decision</h2>", b"</section>"
                ),
            }
            expected = {
                "approvals": min(queue.PAGE_SIZE, waiting),
                "dashboard": min(DASHBOARD_QUEUE, waiting),
            }
            baseline = Page("requester dashboard", "/", b"<h1>My requests</h1>", b"</section>")

            response = approver_client.get("/approvals/")
            shown = waiting_shown(response.content)
            expect(
                shown == (waiting, waiting),
                f"/approvals/ says {shown} (heading, badge) wait for {approver.username}; the "
                f"queue counts {waiting}",
            )
            response = requester_client.get("/")
            base_rows = rows_of(response, baseline)
            expect(
                len(base_rows) == min(25, theirs),
                f"the requester dashboard lists {len(base_rows)} of {theirs} requests",
            )
            base_answer, base_queries = answer(response), queries_of(requester_client, "/")
            print(
                f"requester dashboard ({requester.username}): {base_queries} queries, "
                f"{len(response.content):,} bytes",
                flush=True,
            )
            run.note(requester_dashboard_bytes=len(response.content))

            for key, page in pages.items():
                rows = rows_of(approver_client.get(page.url), page)
                expect(
                    len(rows) == expected[key],
                    f"{page.name} lists {len(rows)} requests waiting; {expected[key]} expected",
                )
                with CaptureQueriesContext(connection) as cached_queries:
                    cached = approver_client.get(page.url)
                queue.changed()
                with CaptureQueriesContext(connection) as moved_queries:
                    moved = approver_client.get(page.url)
                expect(
                    rows_of(cached, page) == rows and rows_of(moved, page) == rows,
                    f"{page.name} showed other rows from one view to the next",
                )
                expect(
                    len(moved_queries) > len(cached_queries),
                    f"{page.name}: {len(moved_queries)} queries with the version moved, "
                    f"{len(cached_queries)} cached: the version did not move the work",
                )
                size = len(cached.content)
                print(
                    f"{page.name}: {len(rows)} rows, {size:,} bytes; {len(cached_queries)} "
                    f"queries cached, {len(moved_queries)} with the version moved",
                    flush=True,
                )
                run.note(**{f"{key}_bytes": size, f"{key}_rows": len(rows)})
                for case, checked, queries in (
                    ("cached", cached, len(cached_queries)),
                    ("moved", moved, len(moved_queries)),
                ):
                    answers, base_answers = [], []
                    get = timed_get(approver_client, page.url, answers)
                    view = get if case == "cached" else lambda get=get: (queue.changed(), get())

                    def same_queries(_round, case=case, page=page, queries=queries):
                        # Between rounds, outside the clock: the view still does the work it
                        # did when it was checked (cached, or with the counts recomputed).
                        if case == "moved":
                            queue.changed()
                        ran = queries_of(approver_client, page.url)
                        expect(
                            ran == queries,
                            f"{page.name}, {case}: {ran} queries between rounds, {queries} "
                            "before timing",
                        )
                        ran = queries_of(requester_client, "/")
                        expect(
                            ran == base_queries,
                            f"the requester dashboard: {ran} queries between rounds, "
                            f"{base_queries} before timing",
                        )

                    ours, theirs_s, ratios = paired(
                        view,
                        timed_get(requester_client, "/", base_answers),
                        rounds=args.rounds,
                        count=args.count,
                        before_round=same_queries,
                    )
                    check_timed(answers, answer(checked), f"{page.name}, {case}")
                    check_timed(base_answers, base_answer, "the requester dashboard")
                    run.figure(
                        f"queue_split.{key}.{case}",
                        [1 / r for r in ratios],
                        unit="x the requester dashboard's throughput",
                        aim=(">=", 0.5),
                        label=f"{page.name:19} {case:7} {statistics.median(ours) * 1000:6.2f} ms "
                        f"vs {statistics.median(theirs_s) * 1000:6.2f} ms",
                    )


if __name__ == "__main__":
    main()
