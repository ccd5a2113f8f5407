"""Where a worker's CPU goes for one provisioned request: the task bodies run in this process
against the simulator over HTTP, with the real SDK, sampled by py-spy.

Each request runs the chain a worker runs (provision, then a poll once the simulator's create
delay is over; the wait is not counted), calling the task functions directly. The bookkeeping
and publish of the next step count; so do the tasks the steps hand on (the new service's first
reading, the requester's notice), run here after the step.

In rounds (3), each of `--requests` (50) requests unprofiled, for the CPU per request
(process_time), then as many again under `py-spy record --rate 250 --nonblocking`, each round
its own recording. Every sample is counted in exactly one bucket, the first of these rules that
matches any frame of its stack:

    1. sdk             the SDK and its HTTP: alibabacloud_*, darabonba, Tea, requests, urllib3,
                       http.client, socket (the broker here is in memory: no other sockets)
    2. audit_check     the check at every step that the audit log explains the request
                       (_explained, _unexplained, request_events_verify)
    3. chained_events  sealing and appending audit events (portal/audit/chain.py `append`)
    4. first_reading   the new service's first full reading (refresh_service)
    5. notices         what people are told (portal/approvals notifications and tasks)
    6. orm             Django's ORM and database layer (django/db) outside all of the above
    7. other           the rest: the steps' own Python, Celery's publish, the loop here

so the SDK calls of the first reading count as sdk, its queries as first_reading. The shares
sum to 100%. Apart, and overlapping the buckets, the share of samples with Django's SQL
compiler anywhere on the stack. Figures are medians with their range over the rounds.

py-spy counts a thread that is running or waiting for a core (not one asleep on a socket, a
lock or a timer), so on a busy box it takes more samples than CPU seconds x 250: the shares are of
that time, fair to the extent the box is as busy throughout. `profile_worker.coverage` says
how far: samples / (CPU seconds x 250), 1.0 on an idle box.

    .venv/bin/python bench/profile_worker.py [--requests 50] [--rounds 3] [--queries]

Checks (exit status 2, saying why): every request ends Active, having handed on one first
reading and one notice; the simulator holds exactly one service per request; py-spy wrote
samples, covering at least half of the CPU this process spent while it recorded.

It runs with bench/support.py's production-like settings (DEBUG=false, the benchmarks' one
audit key and secret), the database DATABASE_URL names (a fresh SQLite file without it) and
an in-memory broker; the database vendor is recorded with the figures.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Run, expect  # noqa: E402
from bench.support import (  # noqa: E402
    PRODUCTION_LIKE,
    approved_requests,
    free_port,
    simulator_settings,
    start_simulator,
)

RATE = 250  # samples a second
SQL_COMPILER = "django/db/models/sql/compiler.py"
FRAME = re.compile(r"^(?P<name>.*) \((?P<path>.*):(?P<line>\d+)\)$")


@dataclass(frozen=True)
class Rule:
    """A frame matches when its file path contains one of `paths` and, if `names` are
    given, its function is one of them."""

    bucket: str
    paths: tuple
    names: tuple = ()

    def matches(self, name, path):
        if not any(part in path for part in self.paths):
            return False
        return not self.names or name.rsplit(".", 1)[-1] in self.names


RULES = (
    Rule(
        "sdk",
        (
            "site-packages/alibabacloud_",
            "site-packages/darabonba/",
            "site-packages/Tea/",
            "site-packages/requests/",
            "site-packages/urllib3/",
            "/http/client.py",
            "/socket.py",
        ),
    ),
    Rule(
        "audit_check",
        ("portal/provisioning/services.py", "portal/service_requests/integrity.py"),
        ("_explained", "_unexplained", "request_events_verify"),
    ),
    Rule("chained_events", ("portal/audit/chain.py",), ("append",)),
    Rule(
        "first_reading",
        ("portal/endpoint_services/tasks.py", "portal/endpoint_services/services.py"),
        ("refresh_service", "endpoint_service_refresh"),
    ),
    Rule(
        "notices",
        ("portal/approvals/notifications.py", "portal/approvals/tasks.py"),
    ),
    Rule("orm", ("/django/db/",)),
)
OTHER = "other"
BUCKETS = (*(rule.bucket for rule in RULES), OTHER)


def parse_raw(text):
    """Return [(frames, count)] of py-spy's raw output, frames [(function, path)] root first."""
    samples = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            frames.append((match["name"], match["path"]) if match else (frame, ""))
        samples.append((frames, int(count)))
    return samples


def classify(frames):
    """Return the bucket of one sample: the first rule that matches any frame of its stack."""
    for rule in RULES:
        if any(rule.matches(name, path) for name, path in frames):
            return rule.bucket
    return OTHER


def tally(samples):
    """Return (samples per bucket, samples with the SQL compiler anywhere on the stack)."""
    buckets = Counter(dict.fromkeys(BUCKETS, 0))
    compiler = 0
    for frames, count in samples:
        buckets[classify(frames)] += count
        if any(SQL_COMPILER in path for _name, path in frames):
            compiler += count
    return buckets, compiler


def shares(buckets):
    """Return each bucket's percentage of all samples; they sum to 100."""
    total = sum(buckets.values())
    expect(total > 0, "py-spy recorded no sample")
    return {bucket: 100 * buckets[bucket] / total for bucket in BUCKETS}


class Recording:
    """py-spy sampling this process, from entering until leaving; `samples` after."""

    def __init__(self, path):
        self.path = path
        self.log = path.with_suffix(".log")
        self.samples = []

    def __enter__(self):
        with self.log.open("w") as log:
            self.spy = subprocess.Popen(
                [
                    *(str(Path(sys.executable).parent / "py-spy"), "record"),
                    *("--pid", str(os.getpid()), "--rate", str(RATE)),
                    *("--format", "raw", "-o", str(self.path)),
                    *("--nonblocking", "--full-filenames"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while "Sampling process" not in self.log.read_text():
            expect(
                self.spy.poll() is None and time.monotonic() < deadline,
                f"py-spy did not start sampling: {self.log.read_text().strip()[:300]}",
            )
            time.sleep(0.05)
        return self

    def __exit__(self, kind, _error, _traceback):
        if self.spy.poll() is None:
            self.spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            self.spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.spy.kill()
            self.spy.wait()
        if kind is None:
            expect(
                self.path.exists(),
                f"py-spy wrote nothing: {self.log.read_text().strip()[-300:]}",
            )
            self.samples = parse_raw(self.path.read_text())
        return False


def check_handed_on(requested, handed_on, missing=None):
    """Stop unless each of `requested` requests handed on its first reading and its notice:
    `handed_on` {task: how many}; `missing` {task: [request ids]}, to name them, if known."""
    for task in ("refresh_service", "notify_requester"):
        done = handed_on.get(task, 0)
        left = (missing or {}).get(task)
        named = f"; not #{', #'.join(map(str, left[:5]))}" if left else ""
        expect(
            done == requested,
            f"{requested} requests handed on {done} {task}{named}: {dict(handed_on)}",
        )


def check_round(states, requested, handed_on, services, expected_services):
    """Stop unless a round did its work: every request Active, its first reading and notice
    handed on, one service each in the simulator."""
    expect(
        states.get("active", 0) == requested and sum(states.values()) == requested,
        f"of {requested} requests, final states {dict(states)}",
    )
    check_handed_on(requested, handed_on)
    expect(
        services == expected_services,
        f"the simulator holds {services} services, {expected_services} requests ran",
    )


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="per round and phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=15, help="leaf functions to list")
    parser.add_argument(
        "--create-delay",
        type=float,
        default=0.2,
        help="the simulator's; each poll waits this long first (not counted), so a request "
        "takes the two steps it takes in production: create, then one poll that finds Active",
    )
    parser.add_argument("--queries", action="store_true", help="print one request's SQL")
    args = parser.parse_args(argv)
    if 2 * args.requests * args.rounds + 2 > 1000:
        parser.error("the simulator's pool holds 1000 load balancers: fewer requests")
    return args


def main(argv=None):
    args = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="profile-worker-"))
    simulator = None
    try:
        with Run("bench/profile_worker.py", argv) as run:
            port = free_port()
            os.environ.update(
                {**PRODUCTION_LIKE, **simulator_settings(port), "CELERY_BROKER_URL": "memory://"}
            )
            os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'portal.sqlite3'}")
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0", "--skip-checks"],
                cwd=ROOT,
                check=True,
            )
            simulator = start_simulator(
                port, "--create-delay", args.create_delay, "--quota", 100000
            )
            profile(run, args, port, work)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait()
        shutil.rmtree(work, ignore_errors=True)


def profile(run, args, port, work):
    """Run the rounds, check them, and record the CPU per request and the shares."""
    import django

    django.setup()
    from celery.app.task import Task
    from django.db import connection

    from portal.provisioning import tasks
    from portal.service_requests.models import ServiceRequest

    made = approved_requests(
        2 * args.requests * args.rounds + 1 + args.queries,
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
    # What the steps hand on (the service's first reading, the requester's notice) is the
    # workers' work too: run it here, after the step.
    sent = []
    Task.delay = lambda task, *task_args: sent.append((task, task_args))
    handed_on = Counter()

    def chain(pk, token):
        tasks.provision.run(pk, 0, token)
        while steps:
            pk, step, token = steps.pop()
            time.sleep(args.create_delay)
            getattr(tasks, step.task).run(pk, step.attempt, token)
        while sent:
            task, task_args = sent.pop(0)
            handed_on[task.name.rsplit(".", 1)[-1]] += 1
            task.run(*task_args)

    def services():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_simulator/health") as reply:
            return json.loads(reply.read())["services"]

    queue = iter(made)
    done = 0

    def run_requests(count, around=None):
        """Run `count` requests' chains inside `around`; check them; return their CPU seconds."""
        nonlocal done
        batch = [next(queue) for _ in range(count)]
        handed_on.clear()
        with around or contextlib.nullcontext():
            cpu = time.process_time()
            for pk, token in batch:
                chain(pk, token)
            cpu = time.process_time() - cpu
        done += count
        states = Counter(
            ServiceRequest.objects.filter(pk__in=[pk for pk, _ in batch]).values_list(
                "state", flat=True
            )
        )
        check_round(states, count, handed_on, services(), done)
        return cpu

    run_requests(1)  # warm: imports, the SDK client, the connection
    if args.queries:
        from django.test.utils import CaptureQueriesContext

        queries = CaptureQueriesContext(connection)
        run_requests(1, around=queries)
        for query in queries.captured_queries:
            print(query["sql"][:160])
        print(f"{len(queries.captured_queries)} queries for one request")
    run.note(
        database=connection.vendor,
        broker="memory:// (publishes count, nothing consumes)",
        requests_per_round=args.requests,
        rate_hz=RATE,
        rules=[f"{rule.bucket}: {', '.join(rule.names or rule.paths)}" for rule in RULES],
    )
    print(f"database {connection.vendor}; {args.requests} requests a round, py-spy at {RATE} Hz")
    cpu_ms, samples, compiler, coverage = [], [], [], []
    round_shares = {bucket: [] for bucket in BUCKETS}
    leaves = Counter()
    for n in range(args.rounds):
        cpu = run_requests(args.requests)
        expect(cpu > 0, f"{args.requests} requests spent no CPU")
        cpu_ms.append(cpu / args.requests * 1000)
        recording = Recording(work / f"round{n + 1}.raw")
        profiled_cpu = run_requests(args.requests, around=recording)
        buckets, on_compiler = tally(recording.samples)
        round_share = shares(buckets)
        total = sum(buckets.values())
        coverage.append(total / (profiled_cpu * RATE))
        expect(
            coverage[-1] >= 0.5,
            f"round {n + 1}: py-spy took {total} samples of {profiled_cpu:.2f} CPU seconds "
            f"({coverage[-1]:.0%} of {RATE} Hz): too few to share out",
        )
        for bucket, share in round_share.items():
            round_shares[bucket].append(share)
        samples.append(total)
        compiler.append(100 * on_compiler / total)
        for frames, count in recording.samples:
            leaves[frames[-1]] += count
        print(
            f"round {n + 1}: {cpu_ms[-1]:.1f} ms CPU per request unprofiled; {total} samples "
            f"profiled (coverage {coverage[-1]:.2f}): "
            + ", ".join(f"{bucket} {buckets[bucket]}" for bucket in BUCKETS),
            flush=True,
        )
    print(f"top {args.top} leaf functions, all rounds (samples):")
    for (name, path), count in leaves.most_common(args.top):
        print(f"  {count:6d}  {name} ({path.rsplit('site-packages/', 1)[-1]})")
    run.figure("profile_worker.cpu_ms", cpu_ms, unit="ms per request", digits=1)
    run.figure("profile_worker.samples", samples, unit="samples", digits=0)
    run.figure("profile_worker.coverage", coverage, unit="x CPU seconds x rate")
    print("CPU shares, each sample in exactly one bucket (sum 100%):")
    for bucket in BUCKETS:
        run.figure(f"profile_worker.share.{bucket}", round_shares[bucket], unit="%", digits=1)
    print("Overlapping the buckets above:")
    run.figure(
        "profile_worker.overlap.sql_compiler",
        compiler,
        unit="% of samples",
        label="Django's SQL compiler on the stack",
        digits=1,
    )


if __name__ == "__main__":
    main()
