"""Approved requests through real workers and the simulator until every one is Active: the
portal's worker pipeline against its floor, bare Celery tasks doing the same cloud work.

The floor (bench/floor_worker.py) calls CreateVpcEndpointService, polls
GetVpcEndpointServiceAttribute until Active and saves one row with the ORM: the portal's chain
without its audit check, events, first reading and notices. Both sides run in the same worker
processes (2 x 4 threads, DEBUG=false), on the same broker, against the same simulator (create
delay 1 s), with the same first poll interval (2 s) and backoff, and their requests are made
alike (created, submitted with a dry run, approved) before the clock starts, so that one query
sees both finish.

Paired rounds (3), the order of the sides alternating: each side times one request alone,
then `--requests` (100) at once, until every one is Active. Per round and side: the wall time
of each, batch/one (aim for the portal: 1.5 or less), and the workers' CPU per request of the
batch, read from /proc less their idle rate, until they are as quiet as idle again, so that
what a request hands on (first reading, notice) counts (aim for the portal: 20 ms or less);
then the portal/floor ratios of CPU and batch time. Every figure is a median and its range
over the rounds.

    .venv/bin/python bench/pipeline.py [--requests 100] [--rounds 3] [--workers 2]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_pipeline \
        CELERY_BROKER_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/pipeline.py

Without DATABASE_URL it uses a fresh SQLite file and the embedded file-system broker in a
temporary folder; a broker given by CELERY_BROKER_URL has its queue purged first.

Checks (exit status 2, saying why): after every timed run, every request of it is Active; the
simulator holds exactly one new service per request (none missing, no duplicate) and each
request's row names a distinct one of them, Active there; the workers went quiet after the
batch and spent CPU on it.
"""

import argparse
import contextlib
import json
import os
import shutil
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

SIDES = ("portal", "floor")
POOL = 1000  # the simulator's nlb pool: one load balancer per request
# The workers are quiet again when a second of theirs costs no more than idling, give or take
# this much CPU (s/s): the clock tick of /proc is 10 ms per process.
QUIET_WINDOW = 1.0
QUIET_MARGIN = 0.03


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="per batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--create-delay", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300, help="per timed run, seconds")
    args = parser.parse_args(argv)
    if requests_needed(args) > POOL:
        parser.error(
            f"{requests_needed(args)} requests would need more load balancers than the "
            f"simulator's pool of {POOL}: fewer --requests or --rounds"
        )
    return args


def warm_count(args):
    """Requests per side before the rounds: one per worker thread, so each makes its client."""
    return args.workers * args.concurrency


def requests_needed(args):
    return len(SIDES) * (warm_count(args) + args.rounds * (1 + args.requests))


def cpu_seconds(pids):
    """User and system CPU seconds the processes `pids` have used so far (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def check_outcome(side, requested, states, services_added, service_ids, active_in_simulator):
    """Stop unless a timed run did its work: every request Active, with one new service each.

    `states`: {state: rows}; `services_added`: how many more services the simulator holds
    than before the run; `service_ids`: the rows' service ids; `active_in_simulator`: the ids
    of the services the simulator reports Active.
    """
    expect(
        states.get("active", 0) == requested and sum(states.values()) == requested,
        f"{side}: of {requested} requests, final states {dict(states)}",
    )
    expect(
        services_added == requested,
        f"{side}: the simulator holds {services_added} new services for {requested} requests "
        f"({'duplicates' if services_added > requested else 'missing'})",
    )
    named = {service_id for service_id in service_ids if service_id}
    expect(
        len(named) == requested,
        f"{side}: {requested} rows name {len(named)} distinct services",
    )
    expect(
        named <= set(active_in_simulator),
        f"{side}: {len(named - set(active_in_simulator))} services the rows name are not Active "
        "in the simulator",
    )


class Pipeline:
    """The running simulator and workers, and how one side's requests are timed through them."""

    def __init__(self, args, port, workers):
        self.args = args
        self.port = port
        self.workers = workers
        self.idle_rate = 0.0

    def simulator(self, path):
        """Return the simulator's answer on one of its loopback control paths."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_simulator/{path}") as reply:
            return json.loads(reply.read())

    def measure_idle(self, seconds=5.0):
        """Learn what the workers burn waiting on the broker, to tell it from the work."""
        before = cpu_seconds(self.workers)
        time.sleep(seconds)
        self.idle_rate = (cpu_seconds(self.workers) - before) / seconds

    def settle(self):
        """Wait until the workers are as quiet as idle: the tasks requests handed on are done."""
        deadline = time.monotonic() + self.args.timeout
        last = cpu_seconds(self.workers)
        while time.monotonic() < deadline:
            time.sleep(QUIET_WINDOW)
            now = cpu_seconds(self.workers)
            if (now - last) / QUIET_WINDOW <= self.idle_rate + QUIET_MARGIN:
                return
            last = now
        expect(False, f"the workers were still busy {self.args.timeout:.0f} s after a run")

    def run(self, side, made):
        """Hand `made` [(id, token)] to `side`'s tasks; return (seconds until all Active,
        workers' CPU seconds less idle until quiet again), after checking the outcome."""
        from bench.floor_worker import floor_create
        from portal.provisioning.tasks import provision
        from portal.service_requests.models import ServiceRequest, State

        ids = [pk for pk, _token in made]
        services_before = self.simulator("health")["services"]
        cpu_before = cpu_seconds(self.workers)
        started = time.monotonic()
        for pk, token in made:
            if side == "portal":
                provision.delay(pk, 0, token)
            else:
                floor_create.delay(pk)
        active = ServiceRequest.objects.filter(pk__in=ids, state=State.ACTIVE)
        while active.count() < len(ids) and time.monotonic() - started < self.args.timeout:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        rows = list(ServiceRequest.objects.filter(pk__in=ids).values_list("state", "service_id"))
        services = self.simulator("services")["Services"]
        check_outcome(
            side,
            len(ids),
            Counter(state for state, _service in rows),
            self.simulator("health")["services"] - services_before,
            [service for _state, service in rows],
            [s["ServiceId"] for s in services if s.get("ServiceStatus") == "Active"],
        )
        self.settle()
        cpu = cpu_seconds(self.workers) - cpu_before
        return elapsed, cpu - self.idle_rate * (time.monotonic() - started)


@contextlib.contextmanager
def running(args, work):
    """Set up the database, the simulator and the workers; yield a Pipeline; stop them all."""
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
    import django

    django.setup()
    from portal.celery import app

    if not env.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem://"):
        # A message an aborted run left on a shared broker would act on this run's rows.
        app.control.purge()
    processes = []
    try:
        processes.append(
            start_simulator(port, "--create-delay", args.create_delay, "--quota", 100000, env=env)
        )
        for n in range(args.workers):
            processes.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "celery", "-A", "bench.floor_worker", "worker"),
                        *("--pool=threads", f"--concurrency={args.concurrency}"),
                        *("--without-mingle", "--without-gossip", "--loglevel=WARNING"),
                        *("-n", f"pipeline{n}@%h"),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(3)  # let the workers connect before anything is timed
        expect(
            all(process.poll() is None for process in processes),
            "a worker or the simulator exited on start",
        )
        yield Pipeline(args, port, [process.pid for process in processes[1:]])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(run, args, pipeline):
    """Time both sides in paired, interleaved rounds; record their figures."""
    from django.db import connection

    made = approved_requests(
        requests_needed(args),
        resource_type="nlb",
        resource_prefix="nlb-hzpool",
        username="bench-requester",
    )
    expect(
        len(made) == requests_needed(args),
        f"{len(made)} approved requests made of {requests_needed(args)}",
    )
    batches = iter(made)

    def take(count):
        return [next(batches) for _ in range(count)]

    pipeline.measure_idle()
    run.note(
        database=connection.vendor,
        broker=os.environ.get("CELERY_BROKER_URL", "filesystem://"),
        requests_per_batch=args.requests,
        workers=f"{args.workers} x {args.concurrency} threads",
        create_delay_s=args.create_delay,
        first_poll_s=args.poll_interval,
        idle_ms_per_s=round(pipeline.idle_rate * 1000, 1),
    )
    print(
        f"database {connection.vendor}, broker {os.environ.get('CELERY_BROKER_URL', 'filesystem://')}"
        f", {args.workers} workers x {args.concurrency} threads, DEBUG=false; workers idle at "
        f"{pipeline.idle_rate * 1000:.0f} ms/s",
        flush=True,
    )
    for side in SIDES:
        pipeline.run(side, take(warm_count(args)))
    one = {side: [] for side in SIDES}
    batch = {side: [] for side in SIDES}
    cpu_ms = {side: [] for side in SIDES}
    for n in range(args.rounds):
        order = SIDES if n % 2 == 0 else SIDES[::-1]
        for side in order:
            alone, _cpu = pipeline.run(side, take(1))
            elapsed, cpu = pipeline.run(side, take(args.requests))
            expect(cpu > 0, f"{side}: the workers spent no CPU on {args.requests} requests")
            one[side].append(alone)
            batch[side].append(elapsed)
            cpu_ms[side].append(cpu / args.requests * 1000)
        print(
            f"round {n + 1} ({order[0]} first): "
            + "; ".join(
                f"{side} one {one[side][-1]:.2f} s, {args.requests} {batch[side][-1]:.2f} s, "
                f"{cpu_ms[side][-1]:.1f} ms CPU per request"
                for side in SIDES
            ),
            flush=True,
        )
    for side in SIDES:
        run.figure(f"pipeline.one_s.{side}", one[side], unit="s")
        run.figure(f"pipeline.batch_s.{side}", batch[side], unit="s")
        run.figure(
            f"pipeline.batch_over_one.{side}",
            [b / o for b, o in zip(batch[side], one[side], strict=True)],
            unit="x one",
            aim=("<=", 1.5) if side == "portal" else None,
        )
        run.figure(
            f"pipeline.cpu_ms.{side}",
            cpu_ms[side],
            unit="ms per request",
            aim=("<=", 20) if side == "portal" else None,
            digits=1,
        )
    run.figure(
        "pipeline.cpu_ratio",
        [p / f for p, f in zip(cpu_ms["portal"], cpu_ms["floor"], strict=True)],
        unit="x floor",
    )
    run.figure(
        "pipeline.batch_ratio",
        [p / f for p, f in zip(batch["portal"], batch["floor"], strict=True)],
        unit="x floor",
    )


def main(argv=None):
    args = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="pipeline-"))
    try:
        with Run("bench/pipeline.py", argv) as run, running(args, work) as pipeline:
            measure(run, args, pipeline)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
