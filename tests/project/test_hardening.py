"""Login throttling, the Content-Security-Policy, and races that answer 409 rather than 500."""

import pytest
from django.test import Client

from portal.approvals import services as approval_services
from portal.audit.models import AuditEvent
from portal.requests import services
from portal.service_requests import exceptions
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db
PASSWORD = "portal-demo"


@pytest.fixture(autouse=True)
def requester_holds_a_break_glass_password(settings):
    """The password path, which throttling guards, is the break-glass accounts' alone."""
    settings.BREAK_GLASS_USERS = ["requester"]
    settings.LOCAL_LOGIN_ENABLED = True


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
    # The lockout is an event; the attempt refused while locked adds none (see below).
    event = AuditEvent.objects.get(action="login_locked_out")
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


def test_a_locked_out_login_is_recorded_once_however_often_it_is_tried(settings):
    """Without an account, anyone could otherwise fill the audit log and hold its head."""
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    for _ in range(40):
        client.post("/accounts/login/", {"username": "ghost", "password": "wrong"})
    assert AuditEvent.objects.filter(action="login_locked_out").count() == 1


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_a_huge_username_is_a_failed_login_not_a_500(path):
    response = Client().post(path, {"username": "x" * 20_000, "password": "wrong"})
    assert response.status_code == 200
    from axes.models import AccessAttempt

    assert all(len(a.username) <= 150 for a in AccessAttempt.objects.all())


@pytest.mark.parametrize(
    "url", ["/services/epsrv-a%00b/", "/audit/?q=a%00b", "/admin/audit/auditevent/?action=x%00y"]
)
def test_a_nul_in_a_url_is_a_400(login, admin_user, url):
    response = login(admin_user).get(url)
    assert response.status_code == 400


@pytest.mark.parametrize("mark", ["\u202e", "\u2066", "\u200b", "\ufeff"])
def test_invisible_formatting_characters_are_refused(login, requester, mark):
    from tests.requests.test_form import form_data

    data = form_data(service_description=f"Orders {mark}API", justification=f"needs{mark} it")
    response = login(requester).post("/requests/new/", data)
    assert response.status_code == 200
    errors = response.context["editor"].form.errors
    assert "invisible formatting characters" in str(errors["service_description"])
    assert "invisible formatting characters" in str(errors["justification"])


def test_a_replanned_revision_says_so(requester, approver):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    with pytest.raises(exceptions.StaleRevision, match="was replanned since you saw it"):
        approval_services.service_request_decide(
            pk=request.pk,
            approver=approver,
            decision="approve",
            revision=request.revision,
            digest="0" * 64,
        )
