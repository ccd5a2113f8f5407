"""What the benchmark scripts share: loopback ports, approved requests, Django set up as
production would run it, and the checks of timed answers."""

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.report import expect


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ROOT = Path(__file__).resolve().parent.parent


def start_simulator(port, *options, **popen):
    """Start the PrivateLink simulator on `port` with its state in memory and `options`; wait
    until it listens; return its process (the caller stops it)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.simulator", "--port", str(port), "--state", ":memory:"]
        + [str(option) for option in options],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **popen,
    )
    try:
        wait_for_port(port)
    except BaseException:
        process.terminate()
        process.wait()
        raise
    return process


POSTGRES = "postgres://postgres@127.0.0.1:5432"
HISTORY = "portal_bench"  # 100,000 generated requests: bench/history.py's, made once


def copy_history(name):
    """Make the PostgreSQL database `name` a copy of the 100k-request history, once (the
    history itself is generated the first time, which takes about twenty minutes)."""
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        if name in have:
            return
        if HISTORY not in have:
            make = f"from bench.history import setup; setup({f'{POSTGRES}/{HISTORY}'!r}, 100_000)"
            subprocess.run([sys.executable, "-c", make], cwd=ROOT, check=True)
        print(f"copying {HISTORY} to {name}...", flush=True)
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{HISTORY}"')


def wait_for_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def approved_requests(count, *, resource_type, resource_prefix, username, first=1):
    """Make `count` approved requests, each on its own pool resource, the way people would:
    created, submitted (with its dry run against the simulator, which must be up) and
    approved, so that the audit log explains each one and the worker acts on it. Nothing is
    handed to the workers yet; return [(id, work token)] for the caller to start the clock.
    """
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from portal.provisioning import tasks
    from portal.service_requests import services
    from portal.service_requests.models import ServiceRequest, State
    from portal.service_requests.policy import APPROVERS_GROUP

    User = get_user_model()
    requester, _ = User.objects.get_or_create(username=username)
    approver, _ = User.objects.get_or_create(username=f"{username}-approver")
    approver.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    made = []
    with mock.patch.object(tasks.provision, "delay", lambda *args: None):
        for n in range(first, first + count):
            request = services.service_request_create(
                requester=requester,
                fields={
                    "region_id": "cn-hangzhou",
                    "service_resource_type": resource_type,
                    "service_description": f"Bench {n}",
                    "justification": "benchmark",
                },
                resources=[
                    {
                        "resource_type": resource_type,
                        "resource_id": f"{resource_prefix}{n:06d}",
                        "zone_id": "cn-hangzhou-h",
                    }
                ],
                tags=[],
            )
            services.service_request_submit(service_request=request, actor=requester)
            request.refresh_from_db()
            services.service_request_decide(
                pk=request.pk,
                approver=approver,
                decision="approve",
                revision=request.revision,
                digest=request.digest(),
            )
            request.refresh_from_db()
            assert request.state == State.APPROVED, (request.pk, request.state)
            made.append(request.pk)
    return list(
        ServiceRequest.objects.filter(pk__in=made).order_by("pk").values_list("pk", "work_token")
    )


# What production would set where it matters to speed, for benchmarks that run Django in-process.
PRODUCTION_LIKE = {
    "DJANGO_SETTINGS_MODULE": "portal.settings",
    "DEBUG": "false",
    "AUDIT_HMAC_KEYS": "bench:bench-only-audit-key-" + "x" * 32,
    "SECRET_KEY": "bench-only-" + "x" * 40,
    "ALLOWED_HOSTS": "testserver",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "LOG_LEVEL": "WARNING",
}


def configure(database_url=None, **settings):
    """Production's settings where they matter to speed, the database asked for and any
    `settings` (environment variables); then Django."""
    os.environ.update(PRODUCTION_LIKE)
    os.environ.update(settings)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


def describe(response):
    """A response in a few words, for the reason a check gives."""
    if 300 <= response.status_code < 400:
        return f"{response.status_code} to {response.headers.get('Location')}"
    return f"{response.status_code} with {len(response.content):,} bytes"


def answer(response):
    """What is kept of a timed answer to check it: its status and size."""
    return response.status_code, len(response.content)


def check_timed(answers, expected, what):
    """Every answer timed, (status, bytes), was the one checked before timing."""
    wrong = Counter(answer for answer in answers if answer != expected)
    expect(answers, f"{what}: no answer was timed")
    expect(
        not wrong,
        f"{what}: {wrong.total()} of {len(answers)} timed answers were not {expected} "
        f"(status, bytes): {dict(wrong.most_common(3))}",
    )
