"""Where a worker's CPU goes for one provisioned request: the task bodies run in this process
under cProfile, against the simulator over HTTP, with the real SDK.

Each request runs the chain a worker runs (provision, then a poll once the simulator's
create delay is over; the wait is not counted), calling the task functions directly. The
bookkeeping and publish of the next step count; so do the tasks the steps hand on (the new
service's first reading, the requester's notice), run here after the step. Prints CPU per
request and the functions that take most of it.

    .venv/bin/python bench/profile_worker.py [--requests 50] [--top 30]
"""

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import approved_requests, free_port, wait_for_port  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument(
        "--create-delay",
        type=float,
        default=0.2,
        help="the simulator's; each poll waits this long first (not counted), so a request "
        "takes the two steps it takes in production: create, then one poll that finds Active",
    )
    parser.add_argument("--queries", action="store_true", help="print one request's SQL")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="profile-worker-"))
    port = free_port()
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "AUDIT_HMAC_KEYS": "bench:bench-only-audit-key-" + "x" * 32,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "dev-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dev-access-key-secret",
        "PRIVATELINK_PROTOCOL": "http",
        "PRIVATELINK_ENDPOINT": f"127.0.0.1:{port}",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'portal.sqlite3'}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0", "--skip-checks"],
        cwd=ROOT,
        check=True,
    )
    simulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "portal.simulator", "--port", str(port)),
            *("--state", ":memory:", "--create-delay", str(args.create_delay)),
            *("--quota", "100000"),
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    import django

    django.setup()
    from portal.provisioning import tasks
    from portal.service_requests.models import ServiceRequest, State

    try:
        wait_for_port(port)
        made = approved_requests(
            2 * args.requests + 1 + args.queries,
            resource_type="nlb",
            resource_prefix="nlb-hzpool",
            username="p",
        )
        steps = []
        real_schedule = tasks.schedule

        def schedule(pk, step, token=""):
            real_schedule(pk, step, token)
            if step is not None:
                steps.append((pk, step, token))

        tasks.schedule = schedule
        # What the steps hand on (the service's first reading, the requester's notice) is
        # the workers' work too: run it here, after the step.
        from celery.app.task import Task

        sent = []
        Task.delay = lambda task, *args: sent.append((task, args))

        ran = {}

        def run(pk, token):
            tasks.provision.run(pk, 0, token)
            while steps:
                pk, step, token = steps.pop()
                time.sleep(args.create_delay)
                getattr(tasks, step.task).run(pk, step.attempt, token)
            while sent:
                task, task_args = sent.pop(0)
                ran[task.name] = ran.get(task.name, 0) + 1
                task.run(*task_args)

        run(*made[0])  # warm: imports, the SDK client, the connection
        if args.queries:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                run(*made.pop(1))
            for query in queries.captured_queries:
                print(query["sql"][:160])
            print(f"{len(queries.captured_queries)} queries for one request")
        # First without the profiler, for the CPU figure; then the same again under it.
        plain, profiled = made[1 : args.requests + 1], made[args.requests + 1 :]
        cpu = time.process_time()
        wall = time.perf_counter()
        for pk, token in plain:
            run(pk, token)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        profile = cProfile.Profile()
        profile.enable()
        for pk, token in profiled:
            run(pk, token)
        profile.disable()
        active = ServiceRequest.objects.filter(
            pk__in=[pk for pk, _ in made], state=State.ACTIVE
        ).count()
    finally:
        simulator.terminate()
        simulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.requests} requests, {active} of {len(made)} active; tasks handed on: {ran}")
    print(
        f"CPU in this process (not profiled): {cpu / args.requests * 1000:.1f} ms per request; "
        f"wall {wall / args.requests * 1000:.1f} ms (the simulator answers in its own process)"
    )
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
