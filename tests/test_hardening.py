"""Login throttling, the Content-Security-Policy, and races that answer 409 rather than 500."""

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.service_requests import services
from portal.service_requests.models import State
from tests.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db
PASSWORD = "portal-demo"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/accounts/login/", {}),
        ("/admin/login/", {"next": "/admin/"}),
    ],
)
def test_wrong_passwords_lock_the_login_even_against_the_right_one(
    settings, requester, path, fields
):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    for _ in range(5):
        client.post(path, {"username": "requester", "password": "wrong", **fields})
    response = client.post(path, {"username": "requester", "password": PASSWORD, **fields})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The lockout, and the attempt refused while locked, are each an event.
    event = AuditEvent.objects.filter(action="login_locked_out").first()
    assert event.details["username"] == "requester"
    assert event.request_id is None and event.service_id is None


def test_a_right_password_before_the_limit_resets_the_count(settings, requester):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "requester", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "requester", "password": PASSWORD}).status_code
        == 302
    )
    client.logout()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "requester", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "requester", "password": PASSWORD}).status_code
        == 302
    )


def test_pages_carry_a_content_security_policy(login, requester):
    response = login(requester).get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert '"includeIndicatorStyles": false' in response.content.decode()


def test_a_second_click_on_submit_is_a_409_not_a_500(login, requester, simulator):
    request = ServiceRequestFactory(requester=requester)
    client = login(requester)
    assert client.post(f"/requests/{request.pk}/submit/").status_code == 302
    # The same button, clicked again from the page as it was.
    response = client.post(f"/requests/{request.pk}/submit/")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


def test_a_transition_lost_to_a_race_is_a_409(login, requester, monkeypatch, simulator):
    request = ServiceRequestFactory(requester=requester)
    real = services.service_request_dry_run

    def cancelled_meanwhile(**kwargs):
        result = real(**kwargs)
        services.service_request_cancel(pk=request.pk, actor=requester)
        return result

    monkeypatch.setattr(services, "service_request_dry_run", cancelled_meanwhile)
    response = login(requester).post(f"/requests/{request.pk}/submit/")
    assert response.status_code == 409
    assert "changed meanwhile" in response.content.decode()
    request.refresh_from_db()
    assert request.state == State.CANCELLED
