"""Soak: 200 requests through real workers while the simulator throttles 30% of calls and
fails 10% with 5xx, and a worker is SIGKILLed every few seconds. Every request must end
active, with exactly one service in the simulator each: none lost, none duplicated.

    .venv/bin/python bench/soak.py [--requests 200] [--kill-every 4]
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... .venv/bin/python bench/soak.py

Celery beat runs the reconciler every 3 s and resumes requests idle for 10 s; provisioning
backoff is capped at 5 s so that the run fits in a few minutes. Everything is loopback.

Figures, one value each, <database> being sqlite or postgresql: soak.<database>.active (aim
>= --requests), soak.<database>.lost and soak.<database>.duplicated (aim <= 0),
soak.<database>.seconds.

It exits with status 1, saying why, when a request did not end active or a service was lost or
duplicated; and with status 2 (not measured) when the soak did not put the workers through
what it claims: no worker was SIGKILLed, or no call was throttled or failed with a 5xx while
those rates were asked for.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Run, expect  # noqa: E402
from bench.support import approved_requests, free_port, start_simulator  # noqa: E402

ACTIVE = "active"
THROTTLED = "Throttling.User"


def outcome(rows, services):
    """What became of the requests, [(state, ServiceId)], given the simulator's services:
    (active, lost, duplicated)."""
    active = sum(1 for state, _ in rows if state == ACTIVE)
    held = Counter(s["ServiceId"] for s in services)
    claimed = Counter(service_id for _, service_id in rows if service_id)
    lost = sum(1 for state, service_id in rows if state != ACTIVE or service_id not in held)
    duplicated = (
        len(services)
        - len(set(claimed) & set(held))
        + sum(n - 1 for n in claimed.values() if n > 1)
    )
    return active, lost, duplicated


def faults_met(calls):
    """Of the cloud calls' records, how many were throttled and how many failed with a 5xx."""
    throttled = sum(1 for call in calls if call.get("outcome") == THROTTLED)
    failed = sum(1 for call in calls if (call.get("status") or 0) >= 500)
    return throttled, failed


def check_soaked(args, kills, throttled, failed):
    """The workers went through what the soak claims: kills, throttling, 5xx answers."""
    expect(
        kills > 0,
        f"no worker was SIGKILLed (one every {args.kill_every:g} s): the run ended before the "
        "first kill; more --requests or a shorter --kill-every",
    )
    expect(
        throttled > 0 or not args.throttle_rate,
        f"no call was throttled, with --throttle-rate {args.throttle_rate:g}",
    )
    expect(
        failed > 0 or not args.error_rate,
        f"no call failed with a 5xx, with --error-rate {args.error_rate:g}",
    )


def check_outcome(requests, active, held, lost, duplicated):
    """Every request active, one service each: otherwise the soak failed (exit status 1)."""
    if (active, held, lost, duplicated) != (requests, requests, 0, 0):
        raise SystemExit(
            f"soak FAILED: {active} of {requests} requests active, {held} services in the "
            f"simulator, {lost} lost, {duplicated} duplicated"
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--throttle-rate", type=float, default=0.3)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "PRIVATELINK_ENDPOINT": f"127.0.0.1:{port}",
        "PROVISION_POLL_INITIAL": "1",
        "PROVISION_POLL_MAX": "5",
        "PROVISION_RETRY_MAX": "5",
        "RECONCILE_AFTER": "10",
        "RECONCILE_EVERY": "3",
        "CELERY_BROKER_DIR": str(work / "broker"),
        # Its beat writes checkpoints: not into var/, where `make run`'s live.
        "AUDIT_CHECKPOINT_FILE": str(work / "audit-checkpoints.jsonl"),
        "TMPDIR": str(work / "broker" / "tmp"),
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{work / 'portal.sqlite3'}")
    os.environ.update(env)
    try:
        with Run("bench/soak.py") as run:
            soak(run, args, env, port, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def soak(run, args, env, port, work):
    rng = random.Random(args.seed)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    quiet = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

    def start_worker(n):
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal.celery",
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
                "-n",
                f"soak{n}@%h",
            ],
            **quiet,
        )

    import django

    django.setup()

    from django.db import connection

    from portal.audit.models import AuditEvent
    from portal.provisioning.tasks import provision
    from portal.service_requests.models import ServiceRequest, State

    # Every process started is in one of these lists, so that each is stopped whatever happens.
    servers, workers, kills, started_workers, finished = [], [], 0, 0, False
    try:
        servers.append(
            start_simulator(
                port,
                *("--create-delay", 1, "--quota", 100000),
                *("--throttle-rate", args.throttle_rate, "--error-rate", args.error_rate),
                env=env,
            )
        )
        servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal.celery",
                    "beat",
                    "--loglevel=WARNING",
                    "--schedule",
                    str(work / "beat-schedule"),
                ],
                **quiet,
            )
        )
        for _ in range(args.workers):
            workers.append(start_worker(started_workers))
            started_workers += 1
        time.sleep(3)
        ids = approved_requests(
            args.requests,
            resource_type="slb",
            resource_prefix="lb-hzpool",
            username="soak-requester",
        )
        began = time.monotonic()
        for pk, token in ids:
            provision.delay(pk, 0, token)
        ids = [pk for pk, _token in ids]
        next_kill = began + args.kill_every
        while time.monotonic() - began < args.timeout:
            states = Counter(
                ServiceRequest.objects.filter(pk__in=ids).values_list("state", flat=True)
            )
            if states[State.ACTIVE] + states[State.FAILED] == len(ids):
                finished = True
                break
            if time.monotonic() >= next_kill:
                victim = workers.pop(rng.randrange(len(workers)))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                workers.append(start_worker(started_workers))
                started_workers += 1
                next_kill = time.monotonic() + args.kill_every
            time.sleep(0.5)
        elapsed = time.monotonic() - began
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_simulator/services") as reply:
            services = json.loads(reply.read())["Services"]
    finally:
        for process in [*workers, *servers]:
            process.terminate()
        for process in [*workers, *servers]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    rows = list(ServiceRequest.objects.filter(pk__in=ids).values_list("state", "service_id"))
    calls = [
        details.get("cloud_call") or {}
        for details in AuditEvent.objects.filter(
            request_id__in=ids, action="cloud_call"
        ).values_list("details", flat=True)
    ]
    throttled, failed = faults_met(calls)
    active, lost, duplicated = outcome(rows, services)
    database = connection.vendor
    print(
        f"requests: {len(ids)}; throttled {args.throttle_rate:.0%}, 5xx {args.error_rate:.0%};"
        f" workers SIGKILLed: {kills} (one every {args.kill_every:g} s); {elapsed:.0f} s"
        + ("" if finished else f", stopped at --timeout {args.timeout:g} s")
    )
    print(f"final states: {dict(Counter(state for state, _ in rows))}")
    print(f"cloud calls recorded: {len(calls)}, throttled {throttled}, 5xx {failed}")
    print(f"services in the simulator: {len(services)}")
    run.note(
        database=database,
        broker=env.get("CELERY_BROKER_URL", "filesystem://").split(":")[0],
        requests=len(ids),
        services=len(services),
        kills=kills,
        calls=len(calls),
        throttled=throttled,
        failed_5xx=failed,
    )
    check_soaked(args, kills, throttled, failed)
    run.figure(f"soak.{database}.active", [active], unit="requests", aim=(">=", len(ids)), digits=0)
    run.figure(f"soak.{database}.lost", [lost], unit="requests", aim=("<=", 0), digits=0)
    run.figure(
        f"soak.{database}.duplicated", [duplicated], unit="services", aim=("<=", 0), digits=0
    )
    run.figure(f"soak.{database}.seconds", [elapsed], unit="s", digits=0)
    check_outcome(len(ids), active, len(services), lost, duplicated)


if __name__ == "__main__":
    main()
