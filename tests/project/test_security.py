"""CSRF on every POST, production settings, and secrets that never leak."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from portal.approvals import services as approval_services
from portal.endpoint_services.models import EndpointService
from portal.provisioning import services as provisioning
from portal.requests import services
from portal.service_requests.models import State
from simulator.backend import Account, Backend
from simulator.server import start_in_thread
from tests.project.test_access_matrix import MATRIX, project_patterns
from tests.support.factories import ServiceRequestFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-" + "k3y" * 20,
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "sqlite:////tmp/never-opened.sqlite3",
    "AUDIT_HMAC_KEYS": "k1:" + "a-production-audit-key-" * 2,
    "CACHE_URL": "redis://127.0.0.1:6379/14",
    "OIDC_ISSUER": "https://login.example.com/realms/corp",
    "OIDC_CLIENT_ID": "privatelink-portal",
    "OIDC_CLIENT_SECRET": "prod-oidc-" + "s3cr3t" * 5,
}


def manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("name", ["SECRET_KEY", "AUDIT_HMAC_KEYS"])
def test_production_requires_its_secrets(name):
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    result = manage("check", **env)
    assert result.returncode != 0
    assert name in result.stderr


def test_production_requires_a_shared_cache():
    """Login throttling and per-user limits count in the cache: one per process is none."""
    env = {k: v for k, v in PRODUCTION.items() if k != "CACHE_URL"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "django_ratelimit.E003" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_every_post_needs_the_csrf_token(requester, approver, htmx):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    service = EndpointService.objects.create(
        service_id="epsrv-csrf00000000000000", region_id="cn-hangzhou", owner=requester
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    headers = {"HX-Request": "true"} if htmx else {}
    checked = 0
    for name, route in project_patterns().items():
        if name.startswith(("api:", "scim:")):
            continue  # the API and SCIM read no session (test_api_tokens, test_scim)
        if name in ("login", "logout", "admin:index") or MATRIX[name][1]["approver"][1] == 405:
            continue
        path = route.replace("<int:pk>", str(request.pk))
        path = path.replace("<str:service_id>", service.service_id)
        path = path.replace("<str:endpoint_id>", "ep-csrf0000000000000000")
        response = client.post(path, {"comment": "x"}, headers=headers)
        assert response.status_code == 403, path
        assert b"CSRF" in response.content
        checked += 1
    assert checked >= 10
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


@pytest.mark.django_db
def test_htmx_posts_pass_with_the_header_token(requester, approver):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    page = client.get(f"/requests/{request.pk}/")
    token = page.cookies["csrftoken"].value
    assert 'hx-headers=\'{"X-CSRFToken": "' in page.content.decode()
    response = client.post(
        f"/requests/{request.pk}/approve/",
        {"revision": request.revision, "digest": request.digest()},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_secrets_never_leave_the_settings(settings, requester, approver, caplog):
    key_id, secret = "LTAI-leak-test-key", "Sh0uld-N3ver-Appear-Anywhere-42"
    settings.SECRET_KEY = "django-secret-Never-Shown-" + "x" * 30
    backend = Backend(":memory:", create_delay=0, accounts=[Account("dev", key_id, secret)])
    server = start_in_thread(backend)
    settings.PRIVATELINK_ENDPOINT = server.endpoint
    settings.ALIBABA_CLOUD_ACCESS_KEY_ID = key_id
    settings.ALIBABA_CLOUD_ACCESS_KEY_SECRET = secret
    caplog.set_level(logging.DEBUG)
    try:
        request = ServiceRequestFactory(requester=requester, tags=[("team", "x")])
        services.service_request_submit(service_request=request, actor=requester)
        request.refresh_from_db()
        approval_services.service_request_decide(
            pk=request.pk, approver=approver, decision="approve", revision=request.revision
        )
        step = provisioning.service_request_provision(pk=request.pk)
        while step:
            step = provisioning.service_request_poll(pk=request.pk, attempt=step.attempt)
        request.refresh_from_db()
        assert request.state == State.ACTIVE
        settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
        services.service_request_dry_run(service_request=request, actor=requester)
    finally:
        server.shutdown()
        server.server_close()
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    auditor = Client()
    from django.contrib.auth.models import Group

    approver.groups.add(Group.objects.get_or_create(name="auditors")[0])
    auditor.force_login(approver)
    pages = [
        auditor.get(f"/requests/{request.pk}/").content,
        auditor.get(f"/audit/requests/{request.pk}/").content,
        auditor.get("/audit/").content,
        b"".join(auditor.get("/audit/export.csv").streaming_content),
        b"".join(auditor.get("/audit/export.jsonl").streaming_content),
    ]
    haystacks = [dump.getvalue(), caplog.text, *(p.decode() for p in pages)]
    assert "CreateVpcEndpointService" in dump.getvalue()
    for haystack in haystacks:
        assert secret not in haystack
        assert settings.SECRET_KEY not in haystack
