"""Real Celery worker processes for tests, on whatever broker the settings name."""

import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from portal.celery import app

ROOT = Path(__file__).resolve().parents[2]


def database_url():
    """Return a DATABASE_URL for the test database this process is using."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def worker_env(endpoint, **overrides):
    broker_dir = settings.CELERY_BROKER_DIR
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": app.conf.broker_url,
        "PRIVATELINK_ENDPOINT": endpoint,
        "PRIVATELINK_PROTOCOL": "http",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "dev-access-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "dev-access-key-secret",
        "PROVISION_POLL_INITIAL": "0.3",
        "PROVISION_POLL_MAX": "1",
        "PROVISION_RETRY_MAX": "1",
        "PROVISION_DEADLINE": "60",
        "RECONCILE_AFTER": "1",
        "PRIVATELINK_TIMEOUT_MS": "5000",
        # The test's own (conftest), not var/'s, which `make run`'s beat writes.
        "AUDIT_CHECKPOINT_FILE": settings.AUDIT_CHECKPOINT_FILE,
        # A worker that hangs is aborted by a test that gave up on it (`Worker.dump`): say where.
        "PYTHONFAULTHANDLER": "1",
    }
    options = app.conf.broker_transport_options or {}
    if "data_folder_in" in options:
        env["CELERY_BROKER_DIR"] = str(Path(options["data_folder_in"]).parent)
        # Workers claim a message by renaming it into TMPDIR: keep that on the same disk.
        env["TMPDIR"] = str(Path(options["data_folder_in"]).parent / "tmp")
    elif broker_dir:
        env["CELERY_BROKER_DIR"] = str(broker_dir)
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Worker:
    def __init__(self, env, log_path):
        self.log_path = log_path
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal.celery",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=INFO",
            "-n",
            name,
        ]
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # No core file in the tree when dump() aborts a hung worker.
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
        )
        self.wait_ready()

    def output(self):
        return Path(self.log_path).read_text(errors="replace")

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"the worker did not start:\n{self.output()}")

    def dump(self):
        """Return the log as it stands now, with every thread's stack if the worker still runs:
        what a test that waited in vain needs to say why (the log when it began is not it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints the stacks
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.output()

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        # Tests leave nothing in flight worth a warm shutdown, which takes seconds.
        if self.process.poll() is None:
            self.kill()
        self.log.close()


@contextmanager
def running_worker(endpoint, log_dir, **overrides):
    log_path = Path(log_dir) / f"worker-{uuid.uuid4().hex[:6]}.log"
    # The session's broker still holds what earlier tests enqueued (their rows are gone, their
    # ids may be this test's): a worker test starts on an empty queue.
    app.control.purge()
    worker = Worker(worker_env(endpoint, **overrides), log_path)
    try:
        yield worker
    finally:
        worker.stop()


def wait_for(predicate, timeout=60, interval=0.1, message="condition", worker=None):
    """Return the predicate's first true value within `timeout` seconds, or fail saying what was
    awaited, with `worker`'s log and stacks at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    log = f"\n{worker.dump()}" if worker is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {message}{log}")
