"""Personal access tokens: made and revoked on /account/tokens/, hashed, scoped, expiring,
rate-limited, and every use in the audit log."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.api import services
from portal.api.models import AccessToken
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.service_requests.models import ServiceRequest
from tests.support.api import CREATE, call, token

pytestmark = pytest.mark.django_db


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- the page ---------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_kept(login, requester):
    client = login(requester)
    response = client.post(
        "/account/tokens/", {"name": "orders pipeline", "scope": "write", "expires": "30"}
    )
    assert response.status_code == 302
    response = client.get(response.url)
    assert response["Cache-Control"] == "no-store"
    secret = response.context["made"]["secret"]
    assert secret.startswith("plp_") and secret in response.content.decode()
    assert "api-token-made" not in client.session
    [made] = AccessToken.objects.all()
    assert made.digest == hashlib.sha256(secret.encode()).hexdigest()
    kept = json.dumps(list(AccessToken.objects.values()), default=str)
    assert secret.split("_", 2)[2] not in kept
    assert made.label == f"plp_{made.prefix}…" and secret.startswith(f"plp_{made.prefix}_")
    assert (made.expires_at - timezone.now()).days in (29, 30)
    page = client.get("/account/tokens/").content.decode()
    assert made.label in page and secret not in page
    [event] = events("token_created")
    assert event.actor == requester
    assert event.details["prefix"] == made.prefix and event.details["scope"] == "write"
    assert secret not in json.dumps(event.details)


def test_the_form_says_what_is_missing(login, requester):
    response = login(requester).post("/account/tokens/", {"scope": "admin", "expires": "9"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "scope", "expires"}
    assert not AccessToken.objects.exists()


def test_auditors_make_read_tokens_only(login, auditor):
    client = login(auditor)
    refused = client.post("/account/tokens/", {"name": "x", "scope": "write", "expires": "90"})
    assert refused.status_code == 400 and "scope" in refused.context["form"].errors
    made = client.post("/account/tokens/", {"name": "x", "scope": "read", "expires": "30"})
    assert made.status_code == 302
    assert AccessToken.objects.get().scope == "read"


def test_revoking_is_for_the_owner_and_audited(login, requester, requester2):
    mine = services.token_create(user=requester, name="mine", scope="read")[0]
    theirs = services.token_create(user=requester2, name="theirs", scope="read")[0]
    client = login(requester)
    assert client.post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.get(f"/account/tokens/{mine.pk}/revoke/").status_code == 405
    response = client.post(f"/account/tokens/{mine.pk}/revoke/")
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_by == requester and theirs.revoked_at is None
    [event] = events("token_revoked")
    assert event.details["prefix"] == mine.prefix and event.details["owner"] == "requester"
    client.post(f"/account/tokens/{mine.pk}/revoke/")  # again: nothing new
    assert len(events("token_revoked")) == 1


def test_admins_list_tokens_without_secrets_and_may_revoke(client, requester):
    from tests.support.factories import UserFactory

    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    made = services.token_create(user=requester, name="ci", scope="write")[0]
    client.force_login(admin)
    listing = client.get("/admin/api/accesstoken/").content.decode()
    assert made.label in listing and made.digest not in listing
    detail = client.get(f"/admin/api/accesstoken/{made.pk}/change/").content.decode()
    assert made.digest not in detail
    client.post(
        "/admin/api/accesstoken/",
        {"action": "revoke", "_selected_action": [made.pk]},
    )
    made.refresh_from_db()
    assert made.revoked_by == admin
    assert events("token_revoked")[0].actor == admin


# --- which tokens the API takes ---------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer plp_nothing",
        "Basic cmVxdWVzdGVyOnBvcnRhbC1kZW1v",
        "Bearer " + "x" * 500,
    ],
)
def test_no_usable_token_is_401(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/me", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_revoked_expired_and_deactivated_tokens_are_401(client, requester, requester2):
    revoked = token(requester, "read")
    services.token_revoke(token=AccessToken.objects.get(), actor=requester)
    expired = token(requester, "read", expires_at=timezone.now() - timedelta(seconds=1))
    gone = token(requester2, "read")
    requester2.is_active = False
    requester2.save()
    for secret in (revoked, expired, gone):
        response = call(client, "GET", "me", secret)
        assert response.status_code == 401
        assert json.loads(response.content)["detail"] == "The token is unknown, revoked or expired."
    assert call(client, "GET", "me", token(requester, "read")).status_code == 200


def test_a_session_is_not_a_token(login, requester):
    client = login(requester)
    assert call(client, "GET", "me").status_code == 401
    assert call(client, "POST", "requests", body=CREATE).status_code == 401
    assert not ServiceRequest.objects.exists()


def test_a_read_token_reads_and_cannot_write(client, requester):
    secret = token(requester, "read")
    me = json.loads(call(client, "GET", "me", secret).content)
    assert me["scope"] == "read" and me["username"] == "requester"
    response = call(client, "POST", "requests", secret, CREATE)
    assert response.status_code == 403
    assert json.loads(response.content)["detail"].startswith("This token may only read")
    assert not ServiceRequest.objects.exists()
    [event] = events("api_write")  # a refused write is on the record too
    assert event.details["status"] == 403 and event.details["scope"] == "read"


def test_an_auditors_write_token_is_refused_like_their_pages(client, auditor):
    secret = services.token_create(user=auditor, name="made by hand", scope="write")[1]
    response = call(client, "POST", "requests", secret, CREATE)
    assert response.status_code == 403
    assert json.loads(response.content)["detail"] == "Auditors can read, not change."


# --- what the audit log keeps -----------------------------------------------------------


def test_each_write_is_recorded_and_names_the_token_on_what_it_did(client, requester):
    secret = token(requester)
    made = AccessToken.objects.get()
    response = call(client, "POST", "requests", secret, CREATE)
    assert response.status_code == 201
    request = ServiceRequest.objects.get()
    [created] = request.events.filter(action="created")
    assert created.details["via"] == {"token": made.pk, "prefix": made.prefix}
    [write] = events("api_write")
    assert write.actor == requester and write.request_id is None
    assert write.details == {
        "token": made.pk,
        "prefix": made.prefix,
        "name": made.name,
        "scope": "write",
        "method": "POST",
        "path": "/api/v1/requests",
        "status": 201,
        "address": "127.0.0.1",
    }
    # Nothing done after the call carries its token.
    request.record("note", actor=None)
    assert "via" not in request.events.get(action="note").details
    assert audit_chain_verify().ok


def test_reads_are_recorded_once_an_hour_and_last_use_to_the_minute(client, requester, settings):
    secret = token(requester, "read")
    for _ in range(3):
        assert call(client, "GET", "requests", secret).status_code == 200
    [read] = events("api_read")
    assert read.details["path"] == "/api/v1/requests" and read.details["every"] == 3600
    made = AccessToken.objects.get()
    assert made.last_used_at is not None and made.last_used_ip == "127.0.0.1"
    hour_ago = timezone.now() - timedelta(seconds=settings.API_READ_AUDIT_EVERY + 1)
    AccessToken.objects.filter(pk=made.pk).update(read_audited_at=hour_ago)
    call(client, "GET", "me", secret)
    assert [e.details["path"] for e in events("api_read")] == ["/api/v1/requests", "/api/v1/me"]


# --- limits -----------------------------------------------------------------------------


def test_each_token_has_its_own_rate_limit(client, requester, settings):
    settings.API_CALLS_PER_MINUTE = 3
    busy, calm = token(requester, "write"), token(requester, "read")
    for _ in range(3):
        assert call(client, "GET", "me", busy).status_code == 200
    limited = call(client, "GET", "me", busy)
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert call(client, "POST", "requests", busy, CREATE).status_code == 429
    assert not ServiceRequest.objects.exists()
    assert events("api_write") == []  # a call over the limit did nothing: not recorded
    assert call(client, "GET", "me", calm).status_code == 200


def test_cloud_calls_count_against_the_users_budget_as_on_the_pages(client, requester, settings):
    settings.CLOUD_ACTIONS_PER_MINUTE = 1
    secret = token(requester)
    pk = json.loads(call(client, "POST", "requests", secret, CREATE).content)["id"]
    assert call(client, "POST", f"requests/{pk}/validate", secret).status_code == 200
    limited = call(client, "POST", f"requests/{pk}/validate", secret)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert "too often" in json.loads(limited.content)["detail"]
    # The pages share the budget.
    client.force_login(requester)
    assert client.post(f"/requests/{pk}/validate/").status_code == 429


# --- one's tokens through the API -------------------------------------------------------


def test_tokens_are_listed_without_secrets_and_revoked_through_the_api(
    client, requester, requester2
):
    spare = token(requester, "read")
    secret = token(requester, "write")
    listed = json.loads(call(client, "GET", "tokens", secret).content)
    assert [(t["name"], t["scope"], t["usable"]) for t in listed] == [
        ("requester-write", "write", True),
        ("requester-read", "read", True),
    ]
    assert all(t["label"].startswith("plp_") and t["label"].endswith("…") for t in listed)
    assert secret not in json.dumps(listed) and spare not in json.dumps(listed)

    spare_id = listed[1]["id"]
    assert call(client, "POST", f"tokens/{spare_id}/revoke", spare).status_code == 403
    revoked = call(client, "POST", f"tokens/{spare_id}/revoke", secret)
    assert revoked.status_code == 200
    assert json.loads(revoked.content)["usable"] is False
    assert call(client, "GET", "me", spare).status_code == 401
    [event] = events("token_revoked")
    assert event.actor == requester and event.details["via"]["token"] == listed[0]["id"]

    theirs = call(client, "POST", f"tokens/{listed[0]['id']}/revoke", token(requester2))
    assert theirs.status_code == 404
    assert call(client, "GET", "me", secret).status_code == 200
