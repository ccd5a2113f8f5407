"""What the benchmark scripts share: loopback ports, approved requests, Django set up as
production would run it, and the checks of timed answers."""

import email
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from django.core.mail.backends import filebased

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
        [sys.executable, "-m", "simulator", "--port", str(port), "--state", ":memory:"]
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


def copy_history(name, *, anew=False):
    """Make the PostgreSQL database `name` a copy of the 100k-request history: once, or
    `anew` each time (the history itself is generated the first time: about twenty minutes)."""
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        if name in have and not anew:
            return
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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

    from portal.accounts.rights import APPROVERS_GROUP
    from portal.approvals import services as approval_services
    from portal.provisioning import tasks
    from portal.requests import services
    from portal.service_requests.models import ServiceRequest, State

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
            approval_services.service_request_decide(
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


def simulator_settings(port):
    """The settings that point the portal's cloud client at the simulator on `port`."""
    return {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "dev-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dev-access-key-secret",
        "PRIVATELINK_PROTOCOL": "http",
        "PRIVATELINK_ENDPOINT": f"127.0.0.1:{port}",
    }


class Outbox(filebased.EmailBackend):
    """Django's file-based email backend, into the folder BENCH_OUTBOX names: the mail
    benchmarked workers send is rendered as for SMTP and kept where the benchmark can see it
    (EMAIL_BACKEND=bench.support.Outbox). The portal's settings name no such folder."""

    def __init__(self, **options):
        super().__init__(file_path=os.environ["BENCH_OUTBOX"], **options)


# What Django's file-based backend writes after each message.
MESSAGE_END = b"\n" + b"-" * 79 + b"\n"


def sent_mail(folder):
    """Every message an Outbox wrote into `folder`, parsed (email.message.Message)."""
    return [
        email.message_from_bytes(message)
        for path in sorted(Path(folder).glob("*.log"))
        for message in path.read_bytes().split(MESSAGE_END)
        if message.strip()
    ]


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


# Static files without collectstatic's manifest (DEBUG=false would ask for one).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def timed_get(client, url, answers, data=None, *, keep=answer):
    """A GET of `url` to time that appends `keep(response)` to `answers`, for check_timed
    once the clock has stopped: checking inside it would time the check too."""

    def get():
        answers.append(keep(client.get(url, data)))

    return get


def marked(marker):
    """What is kept of a timed answer whose bytes may vary a little: its status, its size and
    whether it has `marker` (the size alone no longer says it is the page)."""

    def keep(response):
        return response.status_code, len(response.content), marker in response.content

    return keep


def check_timed_near(answers, expected, slack, what):
    """Every answer timed, (status, bytes, marker found), had the status of the one checked
    before timing, the marker, and a size within `slack` bytes of its size."""
    status, size, _marker = expected
    wrong = Counter(
        (got, length, found)
        for got, length, found in answers
        if got != status or not found or abs(length - size) > slack
    )
    expect(answers, f"{what}: no answer was timed")
    expect(
        not wrong,
        f"{what}: {wrong.total()} of {len(answers)} timed answers were not {status} with the "
        f"page's marker and {size:,} ± {slack} bytes (status, bytes, marker found): "
        f"{dict(wrong.most_common(3))}",
    )
