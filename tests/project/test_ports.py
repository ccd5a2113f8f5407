"""`make run` on other ports: the portal, the simulator and the demo provider move together and
are told of each other; the console script says plainly when it cannot reach the simulator."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.workers import ROOT, database_url

# What a developer's shell or .env may set, which would hide the defaults these tests check.
PORT_SETTINGS = ("PRIVATELINK_ENDPOINT", "OIDC_ISSUER", "SITE_URL", "PORTAL_PORT", "PORT")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in PORT_SETTINGS}
    env.pop("SIMULATOR_PORT", None)
    env.pop("IDP_PORT", None)
    return {**env, **extra}


def test_make_run_moves_the_simulator_and_the_provider_with_the_portal():
    run = subprocess.run(
        ["make", "-n", "run", "PORT=8100"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    [start] = [line for line in run.stdout.splitlines() if "honcho start" in line]
    assert "PORTAL_PORT=8100 SIMULATOR_PORT=8865 IDP_PORT=8866 " in start
    assert "http://127.0.0.1:8100/" in run.stdout  # what it tells the person to open
    default = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, env=clean_env(), capture_output=True, text=True
    )
    assert "PORTAL_PORT=8000 SIMULATOR_PORT=8765 IDP_PORT=8766 " in default.stdout


def test_the_settings_follow_the_ports():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PRIVATELINK_ENDPOINT, s.OIDC_ISSUER, s.SITE_URL)"
    )
    env = clean_env(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="true",
        PORTAL_PORT="8100",
        SIMULATOR_PORT="8865",
        IDP_PORT="8866",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "127.0.0.1:8865",
        "http://127.0.0.1:8866",
        "http://127.0.0.1:8100",
    ]
    # Named outright, an endpoint wins over the port (a portal pointed at the real cloud).
    env["PRIVATELINK_ENDPOINT"] = "privatelink.cn-shanghai.aliyuncs.com"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.stdout.split()[0] == "privatelink.cn-shanghai.aliyuncs.com"


def wait_for_url(url, process, timeout=40):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError as error:
            return error
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.2)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_procfile_on_other_ports_signs_in_through_the_provider_it_started(tmp_path):
    """The Procfile's simulator, provider and portal on three free ports: the portal sends a
    sign-in to the provider it started, which accepts the portal's address as its callback,
    and the simulator answers there."""
    portal, simulator, provider = free_port(), free_port(), free_port()
    # The Procfile as `make run` runs it, from a folder of its own (its var/, not the tree's).
    (tmp_path / "var").mkdir()
    shutil.copy(ROOT / "Procfile", tmp_path / "Procfile")
    (tmp_path / "manage.py").symlink_to(ROOT / "manage.py")
    env = clean_env(
        PORTAL_PORT=str(portal),
        SIMULATOR_PORT=str(simulator),
        IDP_PORT=str(provider),
        DATABASE_URL=database_url(),
        PYTHONPATH=str(ROOT),
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        DEBUG="true",
    )
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "simulator", "idp", "web"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        discovery = wait_for_url(
            f"http://127.0.0.1:{provider}/.well-known/openid-configuration", honcho
        )
        assert discovery.status == 200
        opener = urllib.request.build_opener(NoRedirect)
        wait_for_url(f"http://127.0.0.1:{portal}/healthz/", honcho)
        try:
            opener.open(f"http://127.0.0.1:{portal}/oidc/authenticate/", timeout=10)
            raise AssertionError("the portal did not send the sign-in to the provider")
        except urllib.error.HTTPError as redirect:
            assert redirect.code == 302
            authorize = redirect.headers["Location"]
        assert authorize.startswith(f"http://127.0.0.1:{provider}/")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize).query)
        assert query["redirect_uri"] == [f"http://127.0.0.1:{portal}/oidc/callback/"]
        # The provider knows that callback (an unknown one is refused with a 400).
        page = urllib.request.urlopen(authorize, timeout=10)
        assert page.status == 200
        assert b"<form" in page.read()
        answer = wait_for_url(
            f"http://127.0.0.1:{simulator}/?Action=DescribeRegions", honcho, timeout=10
        )
        assert answer.status in (200, 400, 403)  # it speaks the API (unsigned: refused)
        assert b"RequestId" in answer.read()
    finally:
        os.killpg(honcho.pid, 15)
        output = honcho.communicate(timeout=20)[0].decode(errors="replace")
    assert "Traceback" not in output, output


def test_the_console_script_says_when_it_cannot_reach_the_simulator():
    port = free_port()  # nothing listens there
    run = subprocess.run(
        [sys.executable, "scripts/console.py", "show", "epsrv-x"],
        cwd=ROOT,
        env=clean_env(SIMULATOR_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"Cannot reach the PrivateLink API at 127.0.0.1:{port}: connection refused." in (
        run.stderr
    )
    assert "make run" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert re.search(r"PRIVATELINK_ENDPOINT or SIMULATOR_PORT", run.stderr)
