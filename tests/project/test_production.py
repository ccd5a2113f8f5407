"""gunicorn and WhiteNoise serve the portal with production settings (make test-services)."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.workers import database_url

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_and_whitenoise_serve_the_app(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "production-like-" + "s" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "AUDIT_HMAC_KEYS": "k1:" + "a-production-audit-key-" * 2,
        "CACHE_URL": "redis://127.0.0.1:6379/14",
        "STATIC_ROOT": str(tmp_path / "static"),
        # TLS ends at the load balancer in production; this loopback test speaks plain HTTP.
        "SECURE_SSL_REDIRECT": "false",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = urllib.request.urlopen(f"{base}/healthz/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert health.status == 200
        login = urllib.request.urlopen(f"{base}/accounts/login/").read().decode()
        css = re.search(r'href="(/static/vendor/pico/pico\.min\.[0-9a-f]+\.css)"', login)
        assert css, "the manifest storage names static files by content hash"
        static = urllib.request.urlopen(base + css.group(1))
        assert static.status == 200
        assert "immutable" in static.headers["Cache-Control"]
        htmx = re.search(r'src="(/static/django-htmx/htmx[^"]*\.js)"', login) or re.search(
            r'src="(/static/[^"]*htmx[^"]*\.js)"', login
        )
        assert htmx and urllib.request.urlopen(base + htmx.group(1)).status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
