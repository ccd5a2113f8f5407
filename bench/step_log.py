"""A request page's poll that finds a change (status, step log, history) for a request with
as many cloud calls as the step log shows (STEP_LOG_EVENTS) against one with thousands: the
log reads a page's worth of them, so the ratio should stay near 1 however long the request
has lived. A request with ten calls is timed too, for scale, in the same rounds.

Paired, interleaved rounds; DEBUG=false.

    .venv/bin/python bench/step_log.py [--rounds 15] [--count 50] [--calls 5000]

Figures, each a value per round: step_log.ratio (the long request's time over the capped
one's; aim <= 1.2), step_log.ms_10, step_log.ms_capped and step_log.ms_long.

What it checks, and stops on (exit status 2) when it did not time the fragment it claims:
every timed answer was a 200 of the size checked before timing (a redirect to sign in, or a
204 that found nothing changed, is another thing); the fragment holds the step log
(`id="step-log"`), and the calls it shows plus the "earlier cloud calls not shown" it counts
are the request's calls, with no more than a page shown (so the long request's are left out).
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.paired import paired, time_calls
from bench.report import Run, expect
from bench.support import answer, check_timed, configure, describe

HTMX = {"HX-Request": "true"}
CALL = {
    "action": "GetVpcEndpointServiceAttribute",
    "parameters": {"RegionId": "cn-hangzhou", "ServiceId": "epsrv-bench"},
    "outcome": "ok",
    "request_id": "2D5E7C1A-0000-4000-8000-000000000000",
    "duration_ms": 12,
    "status": 200,
}
STEP_LOG = b'id="step-log"'
SHOWN_CALL = re.compile(rb'<li class="call call-(?!note)')
EARLIER = re.compile(rb"(\d+) earlier cloud calls? not shown")


def check_fragment(response, calls, page):
    """The changed poll's fragment with the step log of a request of `calls` cloud calls, at
    most `page` of them shown. Return the number shown."""
    expect(
        response.status_code == 200,
        f"the poll of a request with {calls} calls answered {describe(response)}, where a poll "
        "that finds a change answers 200 with the fragment",
    )
    body = response.content
    expect(STEP_LOG in body, f"the fragment ({len(body):,} bytes) has no step log")
    shown = len(SHOWN_CALL.findall(body))
    earlier = EARLIER.search(body)
    left_out = int(earlier[1]) if earlier else 0
    expect(
        shown + left_out == calls,
        f"the step log shows {shown} calls and leaves out {left_out}, for a request of {calls}",
    )
    expect(shown <= page, f"the step log shows {shown} calls, more than a page of {page}")
    return shown


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    configure()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from portal.service_requests.models import ServiceRequest
    from portal.service_requests.step_log import STEP_LOG_EVENTS

    if args.calls <= STEP_LOG_EVENTS:
        parser.error(f"--calls must exceed the step log's page of {STEP_LOG_EVENTS} events")
    counts = (10, STEP_LOG_EVENTS, args.calls)
    with Run("bench/step_log.py") as run:
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            user = get_user_model().objects.create_user("bench-requester")
            urls = []
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
            sizes, shown = [], []
            for url, calls in zip(urls, counts, strict=True):
                response = client.get(url, headers=HTMX)
                shown.append(check_fragment(response, calls, STEP_LOG_EVENTS))
                sizes.append(answer(response))
            answers = [[], [], []]

            def poll(n):
                return lambda: answers[n].append(answer(client.get(urls[n], headers=HTMX)))

            few_times = []
            long_times, capped_times, ratios = paired(
                poll(2),
                poll(1),
                rounds=args.rounds,
                count=args.count,
                before_round=lambda _n: few_times.append(time_calls(poll(0), args.count)),
            )
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        for n, calls in enumerate(counts):
            check_timed(answers[n], sizes[n], f"the poll of the request with {calls} calls")
        print(f"changed poll, DEBUG=false, {args.rounds} rounds x {args.count}")
        print(
            "fragment bytes and calls shown: "
            + ", ".join(
                f"{n} calls {size:,} ({s} shown)"
                for n, (_status, size), s in zip(counts, sizes, shown, strict=True)
            )
        )
        run.note(calls=list(counts), bytes=[size for _status, size in sizes], shown=shown)
        run.figure("step_log.ms_10", [t * 1000 for t in few_times], unit="ms, 10 calls")
        run.figure(
            "step_log.ms_capped", [t * 1000 for t in capped_times], unit=f"ms, {counts[1]} calls"
        )
        run.figure(
            "step_log.ms_long", [t * 1000 for t in long_times], unit=f"ms, {args.calls} calls"
        )
        run.figure(
            "step_log.ratio",
            ratios,
            unit=f"x the {counts[1]}-call request's time",
            aim=("<=", 1.2),
        )


if __name__ == "__main__":
    main()
