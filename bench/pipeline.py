"""Approved requests through real workers and the simulator, until every one is Active.

In one run, with the same workers: first one request alone (the floor a batch is compared
with), then `--requests` (100) at once. Prints the time of each, the ratio batch/one (aim:
1.5 or less) and the workers' CPU per request in the batch, read from /proc (aim: 20 ms or
less), and the number of services the simulator holds (must equal the requests).

    .venv/bin/python bench/pipeline.py [--requests 100] [--workers 2] [--create-delay 1]
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... .venv/bin/python bench/pipeline.py

Without DATABASE_URL it uses a fresh SQLite file and the embedded file-system broker in a
temporary folder; the simulator and the workers are separate processes, as in production,
with DEBUG=false. The requests are made the way people make them (created, submitted with a
dry run, approved), before the clock starts.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import approved_requests, free_port, wait_for_port  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--create-delay", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pipeline-"))
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "AUDIT_HMAC_KEYS": "bench:bench-only-audit-key-" + "x" * 32,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "dev-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dev-access-key-secret",
        "PRIVATELINK_PROTOCOL": "http",
        "PRIVATELINK_ENDPOINT": f"127.0.0.1:{port}",
        "PROVISION_POLL_INITIAL": str(args.poll_interval),
        "CELERY_BROKER_DIR": str(work / "broker"),
        "TMPDIR": str(work / "broker" / "tmp"),
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{work / 'portal.sqlite3'}")
    os.environ.update(env)
    subprocess.run(
        # --skip-checks: the per-process cache is what the production check refuses.
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0", "--skip-checks"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "portal.simulator",
                "--port",
                str(port),
                "--state",
                ":memory:",
                "--create-delay",
                str(args.create_delay),
                "--quota",
                "100000",
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
    ]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from portal.provisioning.tasks import provision
    from portal.service_requests.models import ServiceRequest, State

    try:
        wait_for_port(port)
        for n in range(args.workers):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "portal.celery",
                        "worker",
                        "--pool=threads",
                        f"--concurrency={args.concurrency}",
                        "--without-mingle",
                        "--without-gossip",
                        "--loglevel=WARNING",
                        "-n",
                        f"bench{n}@%h",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(3)  # let the workers connect before the clock starts
        workers = [process.pid for process in processes[1:]]
        # What the workers burn waiting (polling the broker), to tell it from the work.
        idle_before = cpu_seconds(workers)
        time.sleep(5)
        idle_rate = (cpu_seconds(workers) - idle_before) / 5

        def until_active(made):
            started = time.monotonic()
            for pk, token in made:
                provision.delay(pk, 0, token)
            ids = [pk for pk, _token in made]
            while time.monotonic() - started < args.timeout:
                active = ServiceRequest.objects.filter(pk__in=ids, state=State.ACTIVE).count()
                if active == len(ids):
                    break
                time.sleep(0.05)
            return time.monotonic() - started

        one = approved_requests(
            1, resource_type="nlb", resource_prefix="nlb-hzpool", username="bench-requester"
        )
        alone = until_active(one)
        batch = approved_requests(
            args.requests,
            resource_type="nlb",
            resource_prefix="nlb-hzpool",
            username="bench-requester",
            first=2,
        )
        ids = [pk for pk, _token in batch]
        cpu_before = cpu_seconds(workers)
        elapsed = until_active(batch)
        cpu = cpu_seconds(workers) - cpu_before
        states = {}
        for state in ServiceRequest.objects.filter(pk__in=ids).values_list("state", flat=True):
            states[state] = states.get(state, 0) + 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_simulator/health") as reply:
            services = json.loads(reply.read())["services"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"database: {connection.vendor}, broker: {env.get('CELERY_BROKER_URL', 'filesystem://')}")
    print(f"workers: {args.workers} x {args.concurrency} threads, DEBUG=false")
    print(f"final states: {states}")
    print(f"one request alone: {alone:.2f} s; {len(ids)} requests: {elapsed:.2f} s")
    print(f"ratio {len(ids)} requests / one: {elapsed / alone:.2f} (aim: 1.5 or less)")
    working = cpu - idle_rate * elapsed
    print(
        f"workers' CPU: {cpu:.2f} s for {len(ids)} requests = {cpu / len(ids) * 1000:.1f} ms per "
        f"request; less their idle rate ({idle_rate * 1000:.0f} ms/s waiting on the broker): "
        f"{working / len(ids) * 1000:.1f} ms per request (aim: 20 ms or less)"
    )
    print(f"services in the simulator: {services} (must equal {len(ids) + 1})")


def cpu_seconds(pids):
    """User and system CPU seconds the processes `pids` have used so far (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


if __name__ == "__main__":
    main()
