"""Soak: 200 requests through real workers while the simulator throttles 30% of calls and
fails 10% with 5xx, and a worker is SIGKILLed every few seconds. Prints how many requests
ended active, how many services the simulator holds, and how many requests were lost or
duplicated (must be 200, 200, 0, 0).

    .venv/bin/python bench/soak.py [--requests 200] [--kill-every 4]
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... .venv/bin/python bench/soak.py

Celery beat runs the reconciler every 3 s and resumes requests idle for 10 s; provisioning
backoff is capped at 5 s so that the run fits in a few minutes. Everything is loopback.
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

from bench.support import approved_requests, free_port, wait_for_port  # noqa: E402


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
    rng = random.Random(args.seed)

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
        "TMPDIR": str(work / "broker" / "tmp"),
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{work / 'portal.sqlite3'}")
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portal.simulator",
            "--port",
            str(port),
            "--state",
            ":memory:",
            "--create-delay",
            "1",
            "--quota",
            "100000",
            "--throttle-rate",
            str(args.throttle_rate),
            "--error-rate",
            str(args.error_rate),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
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

    beat = subprocess.Popen(
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
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    from portal.provisioning.tasks import provision
    from portal.service_requests.models import ServiceRequest, State

    workers, kills, started_workers = [], 0, 0
    try:
        wait_for_port(port)
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
        rows = list(ServiceRequest.objects.filter(pk__in=ids).values_list("state", "service_id"))
    finally:
        for process in [*workers, beat, simulator]:
            process.terminate()
        for process in [*workers, beat, simulator]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)
    states = Counter(state for state, _ in rows)
    active = states[State.ACTIVE]
    held = Counter(s["ServiceId"] for s in services)
    claimed = Counter(service_id for _, service_id in rows if service_id)
    lost = sum(1 for state, service_id in rows if state != State.ACTIVE or service_id not in held)
    duplicated = (
        len(services)
        - len(set(claimed) & set(held))
        + sum(n - 1 for n in claimed.values() if n > 1)
    )
    print(
        f"requests: {len(ids)}; throttled {args.throttle_rate:.0%}, 5xx {args.error_rate:.0%};"
        f" workers SIGKILLed: {kills} (one every {args.kill_every:g} s); {elapsed:.0f} s"
    )
    print(f"final states: {dict(states)}")
    print(f"active: {active}")
    print(f"services in the simulator: {len(services)}")
    print(f"lost: {lost}")
    print(f"duplicated: {duplicated}")


if __name__ == "__main__":
    main()
