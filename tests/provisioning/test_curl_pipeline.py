"""The pipeline example (scripts/pipeline-example.sh, curl and jq only) against a live portal:
the web server, a real worker on Redis, PostgreSQL and the simulator; an approver approves
through the API while the script waits (make test-services)."""

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from portal.celery import app
from portal.service_requests.models import ServiceRequest, State
from portal.teams.models import Membership, Team
from tests.support.api import token
from tests.support.workers import ROOT, running_worker

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_redis_queue():
    assert app.conf.broker_url.startswith("redis://"), "make test-services sets Redis"
    redis.Redis.from_url(app.conf.broker_url).flushdb()
    yield
    redis.Redis.from_url(app.conf.broker_url).flushdb()


def api(base, secret, method, path, body=None):
    request = urllib.request.Request(
        f"{base}/api/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def approve_when_pending(base, secret, stop):
    """What an approver's own script would do: find the request in the queue, read it, and
    approve the revision and content it read."""
    while not stop.is_set():
        queue = api(base, secret, "GET", "approvals")
        for item in queue["items"]:
            read = api(base, secret, "GET", f"requests/{item['id']}")
            api(
                base,
                secret,
                "POST",
                f"requests/{item['id']}/approve",
                {"revision": read["revision"], "digest": read["digest"], "comment": "ok"},
            )
            return
        time.sleep(0.2)


def test_the_pipeline_example_files_waits_and_prints_the_service_name(
    live_server, requester, approver, simulator, tmp_path
):
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"the pipeline example needs {tool} (.ci/run installs it)"
    # The pipeline's user is in a team, which owns what it files (PORTAL_TEAM).
    orders = Team.objects.create(name="orders")
    Membership.objects.create(team=orders, user=requester)
    stop = threading.Event()
    approving = threading.Thread(
        target=approve_when_pending, args=(live_server.url, token(approver), stop), daemon=True
    )
    with running_worker(simulator.endpoint, tmp_path) as worker:
        approving.start()
        try:
            run = subprocess.run(
                [str(ROOT / "scripts" / "pipeline-example.sh"), "docs/pipeline-request.json"],
                cwd=ROOT,
                env={
                    **os.environ,
                    "PORTAL_URL": live_server.url,
                    "PORTAL_TOKEN": token(requester),
                    "PORTAL_TEAM": "orders",
                    "POLL_SECONDS": "0.5",
                    "TIMEOUT_SECONDS": "120",
                },
                capture_output=True,
                text=True,
                timeout=180,
            )
        finally:
            stop.set()
            approving.join(timeout=10)
        assert run.returncode == 0, f"{run.stderr}\n{worker.output()}"
    [request] = ServiceRequest.objects.all()
    assert request.state == State.ACTIVE
    assert request.endpoint_service.team == orders
    assert run.stdout == f"{request.service_name}\n"
    assert request.service_name.startswith("com.aliyuncs.privatelink.cn-hangzhou.")
    assert f"Filed request #{request.pk}" in run.stderr
    assert "is pending_approval." in run.stderr and "is active." in run.stderr
    assert [e.details["via"]["prefix"] for e in request.events.filter(action="approve")] == [
        approver.access_tokens.get().prefix
    ]


def test_the_pipeline_example_says_why_a_request_is_refused(live_server, requester, tmp_path):
    bad = tmp_path / "request.json"
    bad.write_text(json.dumps({"region_id": "cn-hangzhou", "address_ip_version": "DualStack"}))
    run = subprocess.run(
        [str(ROOT / "scripts" / "pipeline-example.sh"), str(bad)],
        cwd=ROOT,
        env={**os.environ, "PORTAL_URL": live_server.url, "PORTAL_TOKEN": token(requester)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and run.stdout == ""
    assert (
        "POST /requests: The request has errors, each at its field.; "
        "address_ip_version: DualStack is only available for nlb and gwlb services."
    ) in run.stderr
    assert not ServiceRequest.objects.exists()
