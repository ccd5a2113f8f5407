"""What reaching an account through its RAM role costs a cloud call, once the role's session
is cached: the same call made as the portal's own identity and as the role's session, in
paired, interleaved rounds, against the simulator in its own process.

    .venv/bin/python bench/assume_role.py [--calls 500] [--rounds 7]

Each round times --calls ListVpcEndpointServices (one region, MaxResults 1) through the
portal's cloud layer (portal.cloud.services) both ways, in alternating order, plus one call
with a fresh session (AssumeRole, then the call).

Figures, each a value per round: assume_role.extra_ms_per_call (the role's time per call
minus the own identity's, in ms; aim <= 1), assume_role.ratio (the role's time over the own
identity's), assume_role.first_call_ms (a call that has to assume the role first).

What it checks, and stops on (exit status 2) when it did not time what it claims: every call
answered without an error; the role's calls were made in the payments account (the cloud
takes its session for acs:ram::1000000000000004:assumed-role/...) and the own calls in the
networking account; the cached session was assumed exactly once per round's fresh start and
never during the timed calls.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import support  # noqa: E402
from bench.report import Run, expect  # noqa: E402
from bench.support import free_port, start_simulator  # noqa: E402

REGION = "cn-shanghai"
PAYMENTS = "1000000000000004"
ROLE = f"acs:ram::{PAYMENTS}:role/PrivateLinkPortal"


def timed(cloud, reach, calls):
    """Seconds for `calls` listings as `reach`; every call's record checked."""
    started = time.perf_counter()
    records = [
        cloud.endpoint_services_page(region_id=REGION, max_results=1, reach=reach)[1]
        for _ in range(calls)
    ]
    seconds = time.perf_counter() - started
    expect(
        len(records) == calls and all(r.outcome == "ok" for r in records),
        f"not every call as {reach.uid or 'the own identity'} answered ok",
    )
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    port = free_port()
    simulator = start_simulator(port, "--create-delay", 0)
    try:
        support.configure(
            None,
            ALIBABA_CLOUD_ACCESS_KEY_ID="dev-access-key-id",
            ALIBABA_CLOUD_ACCESS_KEY_SECRET="dev-access-key-secret",
            PRIVATELINK_PROTOCOL="http",
            PRIVATELINK_ENDPOINT=f"127.0.0.1:{port}",
        )
        from portal.cloud import services as cloud

        with Run("bench/assume_role.py") as run:
            measure(run, cloud, args)
    finally:
        simulator.terminate()
        simulator.wait()


def measure(run, cloud, args):
    role = cloud.Reach(uid=PAYMENTS, role_arn=ROLE)
    who, _record = cloud.caller_identity(role)
    expect(
        who["account_id"] == PAYMENTS and ":assumed-role/" in who["arn"],
        f"the role's session is taken for {who}, not a session in {PAYMENTS}",
    )
    own, _record = cloud.caller_identity()
    expect(own["account_id"] == "1000000000000001", f"the own identity is {own}")
    session = cloud.role_session(ROLE)
    extra, ratios, first = [], [], []
    for round_number in range(args.rounds):
        session.forget()
        before = session.assumed
        started = time.perf_counter()
        timed(cloud, role, 1)
        first.append((time.perf_counter() - started) * 1000)
        expect(session.assumed == before + 1, "a fresh session did not assume the role once")
        sides = [(cloud.HOME, "own"), (role, "role")]
        if round_number % 2:
            sides.reverse()
        seconds = {name: timed(cloud, reach, args.calls) for reach, name in sides}
        expect(session.assumed == before + 1, "the cached session was assumed again")
        extra.append((seconds["role"] - seconds["own"]) * 1000 / args.calls)
        ratios.append(seconds["role"] / seconds["own"])
    run.note(calls=args.calls, rounds=args.rounds)
    run.figure("assume_role.extra_ms_per_call", extra, unit="ms per call", aim=("<=", 1.0))
    run.figure("assume_role.ratio", ratios, unit="x the own identity's time")
    run.figure("assume_role.first_call_ms", first, unit="ms")


if __name__ == "__main__":
    main()
