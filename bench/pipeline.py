"""Approved requests through real workers and the simulator until every one is Active: the
portal's worker pipeline against its floor, bare Celery tasks doing the same cloud work.

The floor (bench/floor_worker.py) calls CreateVpcEndpointService, polls
GetVpcEndpointServiceAttribute until Active and saves one row with the ORM: the portal's chain
without its audit check, events, first reading and notices. Both sides run in the same worker
processes (2 x 4 threads, bench/support.py's production-like settings: DEBUG=false), on the
same broker, against the same simulator (create delay 1 s), with the same first poll interval
(2 s) and backoff, and their requests are made alike (created, submitted with a dry run,
approved) before the clock starts, so that one query sees both finish. The requester has an
email address, as people who sign in do, so the portal's notice that a request is Active is
composed and sent: rendered as for SMTP and written to a file in the run's folder
(bench/support.py's Outbox), where the checks find it.

Paired rounds (3), the order of the sides alternating: each side times one request alone,
then `--requests` (100) at once, until every one is Active. Per round and side: the wall time
of each, batch/one (aim for the portal: 1.5 or less), and the CPU per request of the batch,
over a window from the hand-off until the workers have been as quiet as idle for two seconds
in a row (the file-system broker looks for messages once a second), so that what a request
hands on (first reading, notice) counts. The CPU is counted twice over that window:

- pipeline.cpu_ms: the worker processes' (from /proc/PID/stat), less their idle rate (aim for
  the portal: 20 ms or less);
- pipeline.box_cpu_ms: the whole box's (the busy jiffies of /proc/stat: user, nice, system,
  irq, softirq, steal), less the box's idle rate: the workers and also the database server
  (PostgreSQL's backends; SQLite runs inside the workers), the broker, the simulator answering
  the calls, and this benchmark's own process, which polls the database every 50 ms until the
  batch is Active, the same for both sides (a slower side pays it for longer). Anything else
  the box runs meanwhile counts too: the figure means something on an otherwise idle box only
  (the run records its load).

then the portal/floor ratios of both CPU figures and of batch time. Every figure is a median
and its range over the rounds.

    .venv/bin/python bench/pipeline.py [--requests 100] [--rounds 3] [--workers 2]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_pipeline \
        CELERY_BROKER_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/pipeline.py

Without DATABASE_URL it uses a fresh SQLite file and the embedded file-system broker in a
temporary folder; a broker given by CELERY_BROKER_URL has its queue purged first. The database
vendor and the broker are recorded with the figures.

Checks (exit status 2, saying why), after every timed run once its window has closed: the
workers' logs (their stdout and stderr, in the run's folder) hold no traceback and no ERROR
line; every request of the run is Active; the simulator holds exactly one new service per
request (none missing, no duplicate) and each request's row names a distinct one of them,
Active there; each portal request's service had its first reading (the record's
resources_read_at) and its requester the email that it is Active. And a batch's CPU per
request, on either count, is at least what two SDK calls (the fewest a request makes: create,
one poll) cost this process, the least of 5 tries before the rounds: less means the processes
counted did not do the work, e.g. other workers on the same broker took some of it.
"""

import argparse
import contextlib
import json
import os
import re
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

from bench.profile_worker import check_handed_on  # noqa: E402
from bench.report import Run, expect  # noqa: E402
from bench.support import (  # noqa: E402
    PRODUCTION_LIKE,
    approved_requests,
    free_port,
    sent_mail,
    simulator_settings,
    start_simulator,
)

SIDES = ("portal", "floor")
POOL = 1000  # the simulator's nlb pool: one load balancer per request
REQUESTER = "bench-requester"
# The workers are quiet again when a second of theirs costs no more than idling, give or take
# this much CPU (s/s): the clock tick of /proc is 10 ms per process. Two quiet seconds in a
# row, as the file-system broker leaves a message unseen for up to a second.
QUIET_WINDOW = 1.0
QUIET_WINDOWS = 2
QUIET_MARGIN = 0.03
# /proc/stat's first eight columns; guest time is inside user already.
STAT_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
BUSY = ("user", "nice", "system", "irq", "softirq", "steal")
# A worker's log line that says a task, or the worker, went wrong.
TROUBLE = re.compile(r"^Traceback \(most recent call last\)|\b(ERROR|CRITICAL)\b")
QUOTED_LINES = 12


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


def box_busy_seconds(stat):
    """CPU seconds the whole box (all its cores) has been busy, from the text of /proc/stat."""
    for line in stat.splitlines():
        name, *columns = line.split()
        if name == "cpu":
            jiffies = dict(zip(STAT_COLUMNS, map(int, columns), strict=False))
            return sum(jiffies.get(column, 0) for column in BUSY) / os.sysconf("SC_CLK_TCK")
    expect(False, "/proc/stat has no line for all the box's cores")


def box_cpu_seconds():
    return box_busy_seconds(Path("/proc/stat").read_text())


def sdk_two_calls(region_id, service_id, tries=5):
    """The least CPU seconds this process has needed for two of the floor's SDK calls, in
    `tries`: GetVpcEndpointServiceAttribute of an existing service, which changes nothing."""
    from alibabacloud_privatelink20200415 import models as sdk

    from bench.floor_worker import client, runtime

    request = sdk.GetVpcEndpointServiceAttributeRequest(region_id=region_id, service_id=service_id)

    def call():
        client().get_vpc_endpoint_service_attribute_with_options(request, runtime())

    call()  # the client is made and its connection opened once, as a worker thread's is
    least = float("inf")
    for _ in range(tries):
        started = time.process_time()
        call()
        call()
        least = min(least, time.process_time() - started)
    return least


def check_worker_logs(paths):
    """Stop, quoting it, if a worker's log holds a traceback or an ERROR line: a task that
    failed did less than its share of the work, and would lower the CPU figure unnoticed."""
    for path in paths:
        lines = Path(path).read_text(errors="replace").splitlines()
        for n, line in enumerate(lines):
            if TROUBLE.search(line):
                # The record goes on until the next log line: its traceback ends in the error.
                end = next(
                    (m for m in range(n + 1, len(lines)) if lines[m].startswith("[")), len(lines)
                )
                record = lines[n:end]
                if len(record) > QUOTED_LINES:
                    record = [*record[:3], "...", *record[-(QUOTED_LINES - 4) :]]
                expect(False, f"{Path(path).name} says:\n" + "\n".join(record))


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


def notices_sent(outbox):
    """The ids of the requests whose requester was told by email that it is Active."""
    from portal.approvals.notifications import STATE_PHRASES, SUBJECT
    from portal.service_requests.models import State

    told = re.compile(rf"{re.escape(SUBJECT)} Request #(\d+) {STATE_PHRASES[State.ACTIVE]}$")
    return {
        int(match[1])
        for message in sent_mail(outbox)
        if (match := told.match(message["Subject"] or ""))
    }


def check_portal_handed_on(ids, read, told):
    """Stop unless each portal request's service had its first reading (`read`: the ids of the
    requests whose record holds one) and its requester the notice (`told`: the ids told)."""
    missing = {
        "refresh_service": sorted(set(ids) - set(read)),
        "notify_requester": sorted(set(ids) - set(told)),
    }
    check_handed_on(
        len(ids),
        Counter({task: len(ids) - len(left) for task, left in missing.items()}),
        missing,
    )


class Pipeline:
    """The running simulator and workers, and how one side's requests are timed through them."""

    def __init__(self, args, port, workers, logs, outbox):
        self.args = args
        self.port = port
        self.workers = workers
        self.logs = logs
        self.outbox = outbox
        self.idle_rate = 0.0
        self.box_idle_rate = 0.0

    def simulator(self, path):
        """Return the simulator's answer on one of its loopback control paths."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_simulator/{path}") as reply:
            return json.loads(reply.read())

    def measure_idle(self, seconds=5.0):
        """Learn what the workers, and the box, burn waiting, to tell it from the work."""
        self.settle()  # the notices of the requests' making are the workers' work, not idling
        workers, box = cpu_seconds(self.workers), box_cpu_seconds()
        time.sleep(seconds)
        self.idle_rate = (cpu_seconds(self.workers) - workers) / seconds
        self.box_idle_rate = (box_cpu_seconds() - box) / seconds

    def settle(self):
        """Wait until the workers are as quiet as idle: the tasks requests handed on are done."""
        deadline = time.monotonic() + self.args.timeout
        last = cpu_seconds(self.workers)
        quiet = 0
        while quiet < QUIET_WINDOWS:
            expect(
                time.monotonic() < deadline,
                f"the workers were still busy {self.args.timeout:.0f} s after a run",
            )
            time.sleep(QUIET_WINDOW)
            now = cpu_seconds(self.workers)
            calm = (now - last) / QUIET_WINDOW <= self.idle_rate + QUIET_MARGIN
            quiet = quiet + 1 if calm else 0
            last = now

    def run(self, side, made):
        """Hand `made` [(id, token)] to `side`'s tasks; return (seconds until all Active, the
        workers' CPU seconds and the box's, each less its idle, until the workers are quiet
        again), after checking that the work happened."""
        from bench.floor_worker import floor_create
        from portal.provisioning.tasks import provision
        from portal.service_requests.models import ServiceRequest, State

        ids = [pk for pk, _token in made]
        services_before = self.simulator("health")["services"]
        cpu_before, box_before = cpu_seconds(self.workers), box_cpu_seconds()
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
        self.settle()
        cpu = cpu_seconds(self.workers) - cpu_before
        box = box_cpu_seconds() - box_before
        window = time.monotonic() - started

        check_worker_logs(self.logs)
        requests = ServiceRequest.objects.filter(pk__in=ids)
        rows = list(requests.values_list("state", "service_id"))
        services = self.simulator("services")["Services"]
        check_outcome(
            side,
            len(ids),
            Counter(state for state, _service in rows),
            self.simulator("health")["services"] - services_before,
            [service for _state, service in rows],
            [s["ServiceId"] for s in services if s.get("ServiceStatus") == "Active"],
        )
        if side == "portal":
            check_portal_handed_on(
                ids,
                requests.filter(endpoint_service__resources_read_at__isnull=False).values_list(
                    "pk", flat=True
                ),
                notices_sent(self.outbox),
            )
        return elapsed, cpu - self.idle_rate * window, box - self.box_idle_rate * window


@contextlib.contextmanager
def running(args, work):
    """Set up the database, the simulator and the workers; yield a Pipeline; stop them all."""
    port = free_port()
    outbox = work / "outbox"
    env = {
        **os.environ,
        **PRODUCTION_LIKE,
        **simulator_settings(port),
        "PROVISION_POLL_INITIAL": str(args.poll_interval),
        "CELERY_BROKER_DIR": str(work / "broker"),
        "TMPDIR": str(work / "broker" / "tmp"),
        "EMAIL_BACKEND": "bench.support.Outbox",
        "BENCH_OUTBOX": str(outbox),
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
    logs = [work / f"worker{n}.log" for n in range(args.workers)]
    try:
        processes.append(
            start_simulator(port, "--create-delay", args.create_delay, "--quota", 100000, env=env)
        )
        for n, log_path in enumerate(logs):
            with log_path.open("w") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            *(sys.executable, "-m", "celery", "-A", "bench.floor_worker"),
                            *("worker", "--pool=threads", f"--concurrency={args.concurrency}"),
                            *("--without-mingle", "--without-gossip", "--loglevel=WARNING"),
                            *("-n", f"pipeline{n}@%h"),
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        time.sleep(3)  # let the workers connect before anything is timed
        expect(
            all(process.poll() is None for process in processes),
            "a worker or the simulator exited on start: "
            + " / ".join(path.read_text().strip()[-300:] for path in logs),
        )
        check_worker_logs(logs)
        yield Pipeline(args, port, [process.pid for process in processes[1:]], logs, outbox)
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
    from django.contrib.auth import get_user_model
    from django.db import connection
    from kombu.utils.url import maybe_sanitize_url

    from portal.service_requests.models import ServiceRequest

    # approved_requests files the requests as this person, who has an address to be told at.
    get_user_model().objects.update_or_create(
        username=REQUESTER, defaults={"email": f"{REQUESTER}@example.com"}
    )
    made = approved_requests(
        requests_needed(args),
        resource_type="nlb",
        resource_prefix="nlb-hzpool",
        username=REQUESTER,
    )
    expect(
        len(made) == requests_needed(args),
        f"{len(made)} approved requests made of {requests_needed(args)}",
    )
    batches = iter(made)

    def take(count):
        return [next(batches) for _ in range(count)]

    pipeline.measure_idle()
    warm = {side: take(warm_count(args)) for side in SIDES}
    for side in SIDES:
        pipeline.run(side, warm[side])
    region_id, service_id = ServiceRequest.objects.values_list("region_id", "service_id").get(
        pk=warm["floor"][0][0]
    )
    least_ms = sdk_two_calls(region_id, service_id) * 1000
    given = os.environ.get("CELERY_BROKER_URL")
    # A password in the caller's broker URL stays out of the results.
    broker = maybe_sanitize_url(given) if given else "filesystem://"
    run.note(
        database=connection.vendor,
        broker=broker,
        requests_per_batch=args.requests,
        workers=f"{args.workers} x {args.concurrency} threads",
        create_delay_s=args.create_delay,
        first_poll_s=args.poll_interval,
        idle_ms_per_s=round(pipeline.idle_rate * 1000, 1),
        box_idle_ms_per_s=round(pipeline.box_idle_rate * 1000, 1),
        sdk_two_calls_ms=round(least_ms, 2),
        notices="email to the requester, Django's file-based backend",
    )
    print(
        f"database {connection.vendor}, broker {broker}, {args.workers} workers x "
        f"{args.concurrency} threads, DEBUG=false; idle: workers {pipeline.idle_rate * 1000:.0f}"
        f" ms/s, box {pipeline.box_idle_rate * 1000:.0f} ms/s; two SDK calls {least_ms:.2f} ms",
        flush=True,
    )
    one = {side: [] for side in SIDES}
    batch = {side: [] for side in SIDES}
    cpu_ms = {side: [] for side in SIDES}
    box_ms = {side: [] for side in SIDES}
    for n in range(args.rounds):
        order = SIDES if n % 2 == 0 else SIDES[::-1]
        for side in order:
            alone, _cpu, _box = pipeline.run(side, take(1))
            elapsed, cpu, box = pipeline.run(side, take(args.requests))
            for counted, seconds, likely in (
                ("the workers", cpu, "other workers on the broker took some of the tasks"),
                ("the box", box, "something else the box ran while idle was measured stopped"),
            ):
                expect(
                    seconds / args.requests * 1000 >= least_ms,
                    f"{side}: {counted} spent {seconds / args.requests * 1000:.2f} ms per "
                    f"request, less than two SDK calls cost ({least_ms:.2f} ms): not all of the "
                    f"work was counted ({likely}?)",
                )
            one[side].append(alone)
            batch[side].append(elapsed)
            cpu_ms[side].append(cpu / args.requests * 1000)
            box_ms[side].append(box / args.requests * 1000)
        print(
            f"round {n + 1} ({order[0]} first): "
            + "; ".join(
                f"{side} one {one[side][-1]:.2f} s, {args.requests} {batch[side][-1]:.2f} s, "
                f"{cpu_ms[side][-1]:.1f} ms CPU per request ({box_ms[side][-1]:.1f} box)"
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
        run.figure(f"pipeline.box_cpu_ms.{side}", box_ms[side], unit="ms per request", digits=1)
    run.figure(
        "pipeline.cpu_ratio",
        [p / f for p, f in zip(cpu_ms["portal"], cpu_ms["floor"], strict=True)],
        unit="x floor",
    )
    run.figure(
        "pipeline.box_cpu_ratio",
        [p / f for p, f in zip(box_ms["portal"], box_ms["floor"], strict=True)],
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
