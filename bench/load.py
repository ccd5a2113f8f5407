"""Load test: gunicorn (4 workers, DEBUG=false) + PostgreSQL + Redis, 100k requests, ~8k pending.

Two parts, both with Locust (bench/locustfile.py):
1. Page capacity: 10 clients opening one page as fast as it answers, for each of the
   requester's dashboard, the approver's dashboard, /approvals/ and /audit/, in interleaved
   rounds (A B C D, D C B A, ...); prints each page's req/s, p50 and p95 and its ratio to the
   requester's dashboard (aims: approver pages >= 0.5x its throughput, p95 <= 2x).
2. The day's mix (requesters watching, approvers on the queue, auditors, owners), in steps of
   more and more people, the steps repeated in rounds (up, then down, ...); prints req/s,
   failures and p50/p95 per page at each step, and the most people served with every page's
   p95 under a second (a CSV download's under 5 s: it streams the whole filtered history)
   and no failure, as a range over the rounds.

    make load                                  # installs Locust (the `bench` extra), runs this
    .venv/bin/python bench/load.py --steps 25,50,100,200 --step-seconds 45

What it checks, and stops on (exit status 2) when it did not measure pages:
- before any load, every person's session is sent to gunicorn and must come back as their own
  signed-in page (a session the server does not accept answers a redirect to the login page);
- during the load, every answer is checked by the Locust users (bench/page_checks.py: status
  without following redirects, a marker of the real page, who is signed in); an answer that is
  not its page stops the benchmark, while the server's own errors and timeouts under load are
  failures in the figures;
- every page of the mix was requested, and each capacity run answered its page without failure.

The database is a copy of bench/history.py's (portal_bench, made once: 100,000 requests) as
portal_load, with 1,000 services added for the owners. Locust runs on the same two cores as
gunicorn, PostgreSQL and Redis: the figures are for this whole box, load generator included.
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.page_checks import DOWNLOADS, ONE_PAGE, PAGES, SERVER_TROUBLE, verdict  # noqa: E402
from bench.report import Run, expect  # noqa: E402
from bench.support import POSTGRES, copy_history, start_simulator, wait_for_port  # noqa: E402

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


def sign_in_backend():
    """The backend a sign-in records in the session: the single sign-on one, as the portal's
    OIDC callback logs people in. A session naming a backend the settings no longer list is
    refused by Django (the user is anonymous): what the load test once measured."""
    from django.conf import settings
    from django.utils.module_loading import import_string
    from mozilla_django_oidc.auth import OIDCAuthenticationBackend

    for path in settings.AUTHENTICATION_BACKENDS:
        if issubclass(import_string(path), OIDCAuthenticationBackend):
            return path
    raise LookupError("no single sign-on backend in AUTHENTICATION_BACKENDS")


def make_session(user):
    """A session of `user` as a sign-in through the provider leaves it; return its key."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = sign_in_backend()
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(settings.SESSION_COOKIE_AGE)
    store.create()
    return store.session_key


# The page each role's people land on, to check their session before the load starts.
HOME = {
    "requesters": ("/", "/ (requester)"),
    "approvers": ("/", "/ (approver)"),
    "auditors": ("/audit/", "/audit/"),
    "owners": ("/services/", "/services/"),
}


def preflight(fetch, data):
    """Send every person's session to the server; stop unless each comes back signed in.

    `fetch(path, session)` returns (status, body) without following redirects.
    """
    checked = 0
    for role, (path, name) in HOME.items():
        expect(data[role], f"the fixture has no {role}")
        for person in data[role]:
            status, body = fetch(path, person["session"])
            why = verdict(name, status, body, person["username"])
            expect(
                why is None,
                f"the server does not accept the session of {person['username']} ({role}): "
                f"{why}. The benchmark would measure the login page, not the portal.",
            )
            checked += 1
    return checked


def http_fetch(host):
    """fetch() for preflight against a running server, redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def fetch(path, session):
        request = urllib.request.Request(host + path, headers={"Cookie": f"sessionid={session}"})
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    return fetch


def fixture(database_url, path):
    """Sessions for every role, what each person looks at, and the owners' services."""
    os.environ.update(environment(database_url))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
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
        return {"session": make_session(user), "username": user.get_username()}

    polling = [State.PENDING_APPROVAL, State.APPROVED, State.PROVISIONING, State.CREATING]
    requesters = []
    for user in User.objects.filter(username__startswith="dev").order_by("username"):
        mine = ServiceRequest.objects.filter(requester=user).order_by("-created_at")
        watching = list(mine.filter(state__in=polling)[:3]) or list(mine[:3])
        requesters.append(
            {
                **session(user),
                "watching": [
                    {"id": r.pk, "version": r.version, "revision": r.revision, "state": r.state}
                    for r in watching
                ],
            }
        )
    approvers = [
        session(user)
        for user in User.objects.filter(username__startswith="lead").order_by("username")
    ]
    auditor, _ = User.objects.get_or_create(username="load-auditor")
    auditor.groups.add(Group.objects.get_or_create(name="auditors")[0])
    owners = [
        {
            **session(user),
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
        "auditors": [session(auditor)],
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
    data["database"] = {
        "requests": ServiceRequest.objects.count(),
        "pending_approval": ServiceRequest.objects.filter(state=State.PENDING_APPROVAL).count(),
        "services": EndpointService.objects.count(),
    }
    path.write_text(json.dumps(data))


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
    """Run Locust headless; return ({name: row} of its stats CSV, the Aggregated row too;
    [(name, error, occurrences)] of its failures)."""
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
        check=False,  # Locust exits 1 when a request failed: the failures are checked below
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    expect(Path(f"{prefix}_stats.csv").exists(), f"Locust wrote no statistics ({prefix})")
    with open(f"{prefix}_stats.csv") as file:
        stats = {row["Name"]: row for row in csv.DictReader(file)}
    with open(f"{prefix}_failures.csv") as file:
        failures = [
            (row["Name"], row["Error"], int(row["Occurrences"])) for row in csv.DictReader(file)
        ]
    # A task that raises sends no request: the mix would silently change, not fail.
    with open(f"{prefix}_exceptions.csv") as file:
        raised = [(row["Count"], row["Message"]) for row in csv.DictReader(file)]
    expect(not raised, f"Locust's users raised ({prefix}): {raised[:3]}")
    return stats, failures


def measured_pages(failures, where):
    """Stop if a failure says an answer was not its page: then the figures are not the
    portal's. The server's own errors and timeouts under load stay failures in the figures."""
    for name, error, occurrences in failures:
        expect(
            SERVER_TROUBLE in error,
            f"{where}: {occurrences} answers of {name} were not the page: {error}",
        )


def capacity(run, host, fixture_path, rounds, seconds, out):
    print(f"\n1. page capacity: 10 clients, {seconds} s per page per round, {rounds} rounds")
    pages = list(ONE_PAGE)
    results = {page: [] for page in pages}
    for n in range(rounds):
        for page in pages if n % 2 == 0 else pages[::-1]:
            name = ONE_PAGE[page][2]
            stats, failures = locust(
                host, fixture_path, 10, seconds, out / f"page-{page}-{n}", page
            )
            measured_pages(failures, f"capacity of {page}")
            expect(name in stats, f"capacity of {page}: Locust recorded no request of {name}")
            row = stats[name]
            requests, failed = int(row["Request Count"]), int(row["Failure Count"])
            expect(requests > 0, f"capacity of {page}: no request answered")
            expect(failed == 0, f"capacity of {page}: {failed} of {requests} requests failed")
            results[page].append(
                {
                    "rps": float(row["Requests/s"]),
                    "p50": float(row["50%"]),
                    "p95": float(row["95%"]),
                    "bytes": float(row["Average Content Size"]),
                }
            )
    base = results["requester_dashboard"]
    for page in pages:
        rows = results[page]
        run.figure(f"load.capacity.{page}.rps", [r["rps"] for r in rows], unit="req/s", digits=1)
        run.figure(f"load.capacity.{page}.p95_ms", [r["p95"] for r in rows], unit="ms", digits=0)
        run.figure(f"load.capacity.{page}.bytes", [r["bytes"] for r in rows], unit="B", digits=0)
        if page != "requester_dashboard":
            run.figure(
                f"load.capacity.{page}.rps_ratio",
                [r["rps"] / b["rps"] for r, b in zip(rows, base, strict=True)],
                unit="x the requester dashboard's req/s",
                aim=(">=", 0.5),
            )
            run.figure(
                f"load.capacity.{page}.p95_ratio",
                [r["p95"] / b["p95"] for r, b in zip(rows, base, strict=True)],
                unit="x the requester dashboard's p95",
                aim=("<=", 2.0),
            )


def mix(run, host, fixture_path, steps, seconds, rounds, out):
    print(f"\n2. the day's mix, {seconds} s per step, {rounds} rounds (up, then down, ...)")
    by_step = {users: [] for users in steps}
    served = []
    seen = {}
    for n in range(rounds):
        passed = {}
        for users in steps if n % 2 == 0 else steps[::-1]:
            stats, failures = locust(host, fixture_path, users, seconds, out / f"mix-{users}-{n}")
            measured_pages(failures, f"the mix with {users} people")
            total = stats.pop("Aggregated")
            for name, row in stats.items():
                seen[name] = seen.get(name, 0) + int(row["Request Count"])
            pages = [row for name, row in stats.items() if name not in DOWNLOADS]
            downloads = [row for name, row in stats.items() if name in DOWNLOADS]
            worst = max(pages, key=lambda row: float(row["95%"]))
            worst_download = max((float(row["95%"]) for row in downloads), default=0.0)
            failed = int(total["Failure Count"])
            step = {
                "rps": float(total["Requests/s"]),
                "failures": failed,
                "worst_p95": float(worst["95%"]),
                "worst_page": worst["Name"],
                "download_p95": worst_download,
            }
            by_step[users].append(step)
            print(
                f"\n{users} people (round {n + 1}): {step['rps']:.1f} req/s, failures {failed}, "
                f"p95 {total['95%']} ms; worst page p95 {worst['Name']} {worst['95%']} ms; "
                f"CSV download p95 {worst_download:.0f} ms"
            )
            for name, row in sorted(stats.items()):
                print(
                    f"  {name:34} {float(row['Requests/s']):7.1f} req/s  p50 {row['50%']:>5} ms"
                    f"  p95 {row['95%']:>5} ms  {float(row['Average Content Size']):8.0f} B"
                )
            passed[users] = failed == 0 and step["worst_p95"] <= 1000 and worst_download <= 5000
        # The most people served: every step up to it passed, not just that one.
        served.append(max((s for s in steps if all(passed[t] for t in steps if t <= s)), default=0))
    missing = sorted(set(PAGES) - {name for name, count in seen.items() if count})
    expect(not missing, f"the mix never requested {', '.join(missing)}")
    print()
    for users in steps:
        rows = by_step[users]
        run.figure(f"load.mix.{users}.rps", [r["rps"] for r in rows], unit="req/s", digits=1)
        run.figure(
            f"load.mix.{users}.worst_p95_ms",
            [r["worst_p95"] for r in rows],
            unit="ms (worst page p95: " + ", ".join(sorted({r["worst_page"] for r in rows})) + ")",
            aim=("<=", 1000),
            digits=0,
        )
        run.figure(f"load.mix.{users}.failures", [r["failures"] for r in rows], digits=0)
    run.figure(
        "load.mix.served",
        served,
        unit="people with every page's p95 <= 1 s, every download's <= 5 s, no failure",
        digits=0,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="portal_load")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--page-seconds", type=int, default=15)
    parser.add_argument("--steps", default="25,50,75,100,150,200")
    parser.add_argument("--step-seconds", type=int, default=40)
    parser.add_argument("--mix-rounds", type=int, default=2)
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-mix", action="store_true")
    args = parser.parse_args()
    out = ROOT / "var" / "load"
    out.mkdir(parents=True, exist_ok=True)
    database_url = f"{POSTGRES}/{args.database}"
    copy_history(args.database)
    fixture_path = out / "fixture.json"
    host = f"http://127.0.0.1:{args.port}"
    processes = []
    try:
        with Run("bench/load.py") as run:
            subprocess.run(
                [sys.executable, __file__, "--fixture-only", database_url, str(fixture_path)],
                check=True,
            )
            data = json.loads(fixture_path.read_text())
            processes.append(start_simulator(SIMULATOR_PORT, start_new_session=True))
            processes.append(start_gunicorn(database_url, args.port, args.workers))
            run.note(
                database="postgresql",
                gunicorn_workers=args.workers,
                people_with_sessions=preflight(http_fetch(host), data),
                **data["database"],
            )
            print(f"every session answered its own signed-in page ({data['database']})")
            if not args.skip_pages:
                capacity(run, host, fixture_path, args.rounds, args.page_seconds, out)
            if not args.skip_mix:
                steps = sorted(int(s) for s in args.steps.split(","))
                mix(run, host, fixture_path, steps, args.step_seconds, args.mix_rounds, out)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fixture-only":
        fixture(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
