"""Load test: gunicorn (4 workers, DEBUG=false) + PostgreSQL + Redis, 100k requests, ~8k pending.

Two parts, both with Locust (bench/locustfile.py):
1. Page capacity: 10 clients opening one page as fast as it answers, for each of the
   requester's dashboard, the approver's dashboard, /approvals/ and /audit/, in interleaved
   rounds (A B C D, D C B A, ...); prints each page's req/s, p50 and p95 and its ratio to the
   requester's dashboard (aims: approver pages >= 0.5x its throughput, p95 <= 2x).
2. The day's mix (requesters watching, approvers on the queue, auditors, owners), in steps of
   more and more people; prints req/s, failures and p50/p95 per page at each step, and the
   most people served with every page's p95 under a second (a CSV download's under 5 s: it
   streams the whole filtered history, 1.2 s for ~10,000 rows with nobody else on the box).

    make load                                  # installs Locust (the `load` extra), runs this
    .venv/bin/python bench/load.py --steps 25,50,100,200 --step-seconds 45

The database is a copy of bench/history.py's (portal_bench, made once: 100,000 requests) as
portal_load, with 1,000 services added for the owners. Locust runs on the same two cores as
gunicorn, PostgreSQL and Redis: the figures are for this whole box, load generator included.
"""

import argparse
import csv
import json
import os
import random
import signal
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import wait_for_port  # noqa: E402

BASE = "postgres://postgres@127.0.0.1:5432"
PAGES = ["requester_dashboard", "approver_dashboard", "approvals", "audit"]
SECRET = "bench-load-" + "x" * 40
AUDIT_KEY = "dev:insecure-development-audit-key-never-used-in-production"
SIMULATOR_PORT = 8766


def environment(database_url):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "DATABASE_URL": database_url,
        "CACHE_URL": "redis://127.0.0.1:6379/8",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
        "AUDIT_HMAC_KEYS": AUDIT_KEY,
        # The simulator stands in for the cloud (the history page's region list, cached).
        "PRIVATELINK_ENDPOINT": f"127.0.0.1:{SIMULATOR_PORT}",
        "PRIVATELINK_PROTOCOL": "http",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "dev-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dev-access-key-secret",
        "LOG_LEVEL": "WARNING",
    }


def prepare_database(name):
    """Copy portal_bench (made by bench/history.py if missing) to `name`, once."""
    import psycopg

    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        have = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        if name in have:
            return
        if "portal_bench" not in have:
            subprocess.run(
                [sys.executable, str(ROOT / "bench" / "verify.py"), "--no-tracemalloc"],
                check=True,
            )
        print(f"copying portal_bench to {name}...")
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE portal_bench')


def fixture(database_url, path):
    """Sessions for every role, what each person looks at, and the owners' services."""
    os.environ.update(environment(database_url))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection

    from bench.services_list import load as load_services
    from portal.endpoint_services.models import EndpointService
    from portal.service_requests.models import ServiceRequest, State

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG=false serves these
    User = get_user_model()
    if not EndpointService.objects.exists():
        load_services(1000)
        owners = list(User.objects.filter(username__startswith="dev")[:20])
        for n, service in enumerate(EndpointService.objects.order_by("pk")):
            service.owner = owners[n % len(owners)]
            service.save(update_fields=["owner"])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def session(user):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.set_expiry(settings.SESSION_COOKIE_AGE)
        store.create()
        return store.session_key

    polling = [State.PENDING_APPROVAL, State.APPROVED, State.PROVISIONING, State.CREATING]
    requesters = []
    for user in User.objects.filter(username__startswith="dev").order_by("username"):
        mine = ServiceRequest.objects.filter(requester=user).order_by("-created_at")
        watching = list(mine.filter(state__in=polling)[:3]) or list(mine[:3])
        requesters.append(
            {
                "session": session(user),
                "watching": [
                    {"id": r.pk, "version": r.version, "revision": r.revision, "state": r.state}
                    for r in watching
                ],
            }
        )
    approvers = [
        {"session": session(user)}
        for user in User.objects.filter(username__startswith="lead").order_by("username")
    ]
    auditor, _ = User.objects.get_or_create(username="load-auditor")
    auditor.groups.add(Group.objects.get_or_create(name="auditors")[0])
    owners = [
        {
            "session": session(user),
            "services": list(
                EndpointService.objects.filter(owner=user).values_list("service_id", flat=True)[:20]
            ),
        }
        for user in User.objects.filter(endpoint_services__isnull=False).distinct()[:20]
    ]
    pending = list(
        ServiceRequest.objects.filter(state=State.PENDING_APPROVAL)
        .order_by("?")
        .values_list("pk", flat=True)[:500]
    )
    data = {
        "requesters": requesters,
        "approvers": approvers,
        "auditors": [{"session": session(auditor)}],
        "owners": owners,
        "pending": pending,
        "requester_names": [f"dev{n:03d}" for n in range(60)],
        "audit_queries": [
            "",
            "state=failed",
            "region_id=cn-shanghai",
            "requester=dev007",
            "approver=lead03",
            "created_after=2026-03-01&created_before=2026-03-31",
            "q=ledger",
            "state=failed&region_id=cn-hangzhou&page=3",
        ],
    }
    path.write_text(json.dumps(data))
    pending_total = ServiceRequest.objects.filter(state=State.PENDING_APPROVAL).count()
    print(
        f"database: {ServiceRequest.objects.count():,} requests, {pending_total:,} pending, "
        f"{EndpointService.objects.count():,} services"
    )


def start_simulator():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portal.simulator",
            "--port",
            str(SIMULATOR_PORT),
            "--state",
            ":memory:",
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(SIMULATOR_PORT)
    return process


def start_gunicorn(database_url, port, workers):
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment(database_url),
        start_new_session=True,
    )
    wait_for_port(port, timeout=30)
    return process


def locust(host, fixture_path, users, seconds, prefix, page=None):
    """Run Locust headless; return {name: row} of its stats CSV (the Aggregated row too)."""
    env = {**os.environ, "LOAD_FIXTURE": str(fixture_path)}
    if page:
        env["LOAD_PAGE"] = page
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "locust"),
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--host",
            host,
            "--headless",
            "--only-summary",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--csv",
            str(prefix),
            "--loglevel",
            "WARNING",
        ],
        env=env,
        check=False,  # Locust exits 1 when a request failed: the failures are in the figures
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv") as file:
        return {row["Name"]: row for row in csv.DictReader(file)}


def capacity(host, fixture_path, rounds, seconds, out):
    print(f"\n1. page capacity: 10 clients, {seconds} s per page per round, {rounds} rounds")
    results = {page: [] for page in PAGES}
    for n in range(rounds):
        order = PAGES if n % 2 == 0 else PAGES[::-1]
        for page in order:
            stats = locust(host, fixture_path, 10, seconds, out / f"page-{page}-{n}", page)
            row = stats[page]
            results[page].append(
                (
                    float(row["Requests/s"]),
                    float(row["50%"]),
                    float(row["95%"]),
                    float(row["Average Content Size"]),
                    int(row["Failure Count"]),
                )
            )
    base_rps = [r[0] for r in results["requester_dashboard"]]
    base_p95 = [r[2] for r in results["requester_dashboard"]]
    print(
        f"{'page':<22} {'req/s':>7} {'p50':>7} {'p95':>7} {'bytes':>8} {'fail':>5} "
        f"{'rps ratio':>10} {'p95 ratio':>10}"
    )
    for page in PAGES:
        rows = results[page]
        rps_ratio = statistics.median(r[0] / b for r, b in zip(rows, base_rps, strict=True))
        p95_ratio = statistics.median(r[2] / b for r, b in zip(rows, base_p95, strict=True))
        print(
            f"{page:<22} {statistics.median(r[0] for r in rows):7.1f} "
            f"{statistics.median(r[1] for r in rows):5.0f}ms "
            f"{statistics.median(r[2] for r in rows):5.0f}ms "
            f"{statistics.median(r[3] for r in rows):8.0f} {sum(r[4] for r in rows):5d} "
            f"{rps_ratio:10.2f} {p95_ratio:10.2f}"
        )


def mix(host, fixture_path, steps, seconds, out):
    print(f"\n2. the day's mix, {seconds} s per step")
    served = 0
    for users in steps:
        stats = locust(host, fixture_path, users, seconds, out / f"mix-{users}")
        total = stats.pop("Aggregated")
        worst = max(stats.values(), key=lambda row: float(row["95%"]))
        pages = [row for name, row in stats.items() if "export" not in name]
        downloads = [row for name, row in stats.items() if "export" in name]
        worst_page = max(float(row["95%"]) for row in pages)
        worst_download = max((float(row["95%"]) for row in downloads), default=0)
        failures = int(total["Failure Count"])
        print(
            f"\n{users} people: {float(total['Requests/s']):.1f} req/s, failures {failures}, "
            f"p50 {total['50%']} ms, p95 {total['95%']} ms (worst p95: {worst['Name']} "
            f"{worst['95%']} ms)"
        )
        for name, row in sorted(stats.items()):
            print(
                f"  {name:<34} {float(row['Requests/s']):7.1f} req/s  p50 {row['50%']:>5} ms  "
                f"p95 {row['95%']:>5} ms"
            )
        if failures == 0 and worst_page <= 1000 and worst_download <= 5000:
            served = users
    print(
        f"\nmost people served with every page's p95 <= 1 s, every download's <= 5 s and no "
        f"failure: {served}"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="portal_load")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--page-seconds", type=int, default=15)
    parser.add_argument("--steps", default="25,50,100,150,200,300")
    parser.add_argument("--step-seconds", type=int, default=40)
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-mix", action="store_true")
    args = parser.parse_args()
    out = ROOT / "var" / "load"
    out.mkdir(parents=True, exist_ok=True)
    database_url = f"{BASE}/{args.database}"
    prepare_database(args.database)
    fixture_path = out / "fixture.json"
    subprocess.run(
        [sys.executable, __file__, "--fixture-only", database_url, str(fixture_path)],
        check=True,
    )
    random.seed(1)
    simulator = start_simulator()
    server = start_gunicorn(database_url, args.port, args.workers)
    host = f"http://127.0.0.1:{args.port}"
    try:
        if not args.skip_pages:
            capacity(host, fixture_path, args.rounds, args.page_seconds, out)
        if not args.skip_mix:
            steps = [int(s) for s in args.steps.split(",")]
            mix(host, fixture_path, steps, args.step_seconds, out)
    finally:
        for process in (server, simulator):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fixture-only":
        fixture(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
