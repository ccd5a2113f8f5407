"""Single sign-on end to end: the portal (mozilla-django-oidc) against the embedded identity
provider, a real `python -m idp` process; the break-glass password path."""

import base64
import hashlib
import io
import secrets
from urllib.parse import urlencode

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.core.management import call_command
from django.test import Client

from idp.provider import load_users
from portal.accounts.backends import SingleSignOnBackend
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.service_requests.management.commands.seed_demo import USERS as SEEDED
from portal.teams.models import Membership, Role
from tests.support.factories import UserFactory
from tests.support.idp import CLIENT_ID, CLIENT_SECRET, PASSWORD, TEST_PORTAL, Browser, query

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def visitor(idp):
    return Browser(Client(), requests.Session())


def other_browser():
    return Browser(Client(), requests.Session())


def signed_in_as(client):
    user = client.get("/healthz/").wsgi_request.user
    return user.get_username() if user.is_authenticated else None


def page_message(response):
    """The messages a redirect to the login page carries, as that page shows them."""
    assert response.status_code == 302 and response["Location"] == "/accounts/login/", response
    return [str(m) for m in response.wsgi_request._messages]


def groups_of(username):
    """The user's Django groups (roles) and teams, as `team:<name>` (`:approver` added for a
    team's approvers): what the sign-in's audit event lists."""
    user = User.objects.get(username=username)
    teams = {
        f"team:{team}" + (":approver" if role == Role.APPROVER else "")
        for team, role in Membership.objects.filter(user=user).values_list("team__name", "role")
    }
    return set(user.groups.values_list("name", flat=True)) | teams


# --- the flow ---


def test_sign_in_asks_for_the_code_flow_with_pkce_state_and_nonce(visitor, idp):
    url = visitor.start()
    assert url.startswith(f"{idp.issuer}/authorize?")
    asked = query(url)
    assert asked["response_type"] == "code"
    assert asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"{TEST_PORTAL}/oidc/callback/"
    assert set(asked["scope"].split()) == {"openid", "email", "profile"}
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
    # The challenge is the S256 of a verifier only this browser's session holds.
    kept = visitor.client.session["oidc_states"][asked["state"]]
    assert kept["nonce"] == asked["nonce"]
    digest = hashlib.sha256(kept["code_verifier"].encode()).digest()
    assert asked["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_demo_user_signs_in_with_claims_roles_and_teams(visitor, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    response = visitor.sign_in("approver", next_url="/approvals/")
    assert response.status_code == 302 and response["Location"] == "/approvals/"
    assert signed_in_as(visitor.client) == "approver"
    user = User.objects.get(username="approver")
    assert (user.email, user.first_name, user.last_name) == (
        "approver@example.com",
        "Avery",
        "Approver",
    )
    assert not user.has_usable_password()
    assert groups_of("approver") == {"approvers", "team:platform"}
    assert visitor.client.get("/approvals/").status_code == 200
    event = AuditEvent.objects.get(action="roles_changed")
    assert event.actor == user
    assert event.details["added"] == ["approvers", "team:platform"]
    assert event.details["removed"] == []
    assert audit_chain_verify().ok  # an event about a person, in the one chain


def test_signing_in_again_changes_nothing_and_records_nothing(visitor):
    visitor.sign_in("approver")
    visitor.sign_out()
    again = other_browser()
    again.sign_in("approver")
    assert signed_in_as(again.client) == "approver"
    assert AuditEvent.objects.filter(action="roles_changed").count() == 1


def test_removed_from_approvers_at_the_provider_loses_the_queue_at_next_login(visitor, idp):
    visitor.sign_in("approver")
    assert visitor.client.get("/approvals/").status_code == 200
    idp.put_user("approver", groups=["platform"], given_name="Avery", family_name="Approver")
    visitor.sign_out(at_the_provider=True)
    visitor.sign_in("approver")
    assert signed_in_as(visitor.client) == "approver"
    assert visitor.client.get("/approvals/").status_code == 403
    assert groups_of("approver") == {"team:platform"}
    last = AuditEvent.objects.filter(action="roles_changed").latest("seq")
    assert last.details["removed"] == ["approvers"] and last.details["added"] == []


@pytest.mark.parametrize(
    ("username", "purpose"), [(u, p) for u, _g, p in SEEDED if u != "breakglass"]
)
def test_each_demo_user_keeps_the_roles_seed_demo_gives_them(visitor, settings, username, purpose):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    seeded = User.objects.get(username=username)
    roles = {"approvers", "auditors", settings.ESCALATION_GROUP}
    before = (groups_of(username) & roles, seeded.is_superuser)
    visitor.sign_in(username)
    assert signed_in_as(visitor.client) == username
    after = User.objects.get(username=username)
    assert (groups_of(username) & roles, after.is_superuser) == before
    assert after.is_staff == after.is_superuser


def test_the_provider_serves_the_users_seed_demo_makes():
    assert {user.username for user in load_users()} == {u for u, _g, _p in SEEDED} - {"breakglass"}


def test_the_admins_group_makes_staff_and_superuser_and_leaving_it_unmakes(visitor, idp):
    idp.put_user("root", groups=["admins"])
    visitor.sign_in("root")
    root = User.objects.get(username="root")
    assert root.is_staff and root.is_superuser
    assert visitor.client.get("/admin/").status_code == 200
    idp.put_user("root", groups=[])
    visitor.sign_out(at_the_provider=True)
    visitor.sign_in("root")
    root.refresh_from_db()
    assert not root.is_staff and not root.is_superuser
    assert visitor.client.get("/admin/").status_code == 302


def test_teams_follow_the_provider_and_other_groups_are_left_alone(visitor, idp):
    keeper = UserFactory(username="dana")
    keeper.groups.add(Group.objects.create(name="hand-made"))
    idp.put_user("dana", groups=["payments", "checkout", "auditors"])
    visitor.sign_in("dana")
    assert groups_of("dana") == {"hand-made", "team:payments", "team:checkout", "auditors"}
    idp.put_user("dana", groups=["payments"])
    visitor.sign_out(at_the_provider=True)
    visitor.sign_in("dana")
    assert groups_of("dana") == {"hand-made", "team:payments"}


def test_a_teams_approvers_group_makes_its_approver_and_memberships_made_by_hand_stay(visitor, idp):
    from portal.teams.models import Source, Team

    ledger = Team.objects.create(name="ledger")
    keeper = UserFactory(username="fay")
    Membership.objects.create(team=ledger, user=keeper, source=Source.ADMIN)
    idp.put_user("fay", groups=["payments", "payments-approvers"])
    visitor.sign_in("fay")
    assert groups_of("fay") == {"team:payments:approver", "team:ledger"}
    event = AuditEvent.objects.filter(action="roles_changed", actor=keeper).latest("seq")
    assert event.details["added"] == ["team:payments:approver"]
    # The queue is the team's approvers' too; losing the approvers' group at the provider
    # leaves a member, without the queue, at the next sign-in.
    assert visitor.client.get("/approvals/").status_code == 200
    idp.put_user("fay", groups=["payments"])
    visitor.sign_out(at_the_provider=True)
    visitor.sign_in("fay")
    assert groups_of("fay") == {"team:payments", "team:ledger"}
    assert visitor.client.get("/approvals/").status_code == 403
    # A group cannot make an empty team name.
    idp.put_user("fay", groups=["-approvers"])
    visitor.sign_out(at_the_provider=True)
    visitor.sign_in("fay")
    assert groups_of("fay") == {"team:-approvers", "team:ledger"}


def test_with_a_team_prefix_only_the_groups_that_carry_it_are_teams(visitor, idp, settings):
    settings.OIDC_TEAM_PREFIX = "pl-"
    idp.put_user(
        "gil", groups=["all-staff", "pl-payments", "pl-checkout-approvers", "pl-", "approvers"]
    )
    visitor.sign_in("gil")
    assert groups_of("gil") == {"approvers", "team:payments", "team:checkout:approver"}


def test_the_groups_claim_and_the_role_groups_are_settings(visitor, idp, settings):
    settings.OIDC_GROUPS_CLAIM = "roles"
    settings.OIDC_APPROVERS_GROUP = "PrivateLink.Approvers"
    idp.put_user("erin", groups=["approvers"], extra_claims={"roles": ["PrivateLink.Approvers"]})
    visitor.sign_in("erin")
    assert groups_of("erin") == {"approvers"}


# --- signing out ---


def test_logout_ends_the_session_at_the_provider_too(visitor, idp):
    visitor.sign_in("approver")
    assert idp.sessions() == ["approver"]
    # Still signed in at the provider: a second sign-in asks for no password.
    assert visitor.provider.get(visitor.start(), allow_redirects=False).status_code == 302
    visitor.sign_in("approver")
    id_token = visitor.client.session["oidc_id_token"]

    leave = visitor.sign_out()
    assert leave.startswith(f"{idp.issuer}/end_session?")
    assert query(leave) == {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": f"{TEST_PORTAL}/accounts/login/",
        "client_id": CLIENT_ID,
    }
    assert signed_in_as(visitor.client) is None
    answer = visitor.provider.get(leave, allow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{TEST_PORTAL}/accounts/login/"
    assert idp.sessions() == []
    # The next sign-in asks for the password again.
    assert visitor.provider.get(visitor.start(), allow_redirects=False).status_code == 200


def test_logout_of_a_break_glass_session_stays_in_the_portal(settings):
    settings.BREAK_GLASS_USERS = ["breakglass"]
    UserFactory(username="breakglass", password=PASSWORD, is_superuser=True, is_staff=True)
    client = Client()
    assert (
        client.post(
            "/accounts/login/", {"username": "breakglass", "password": PASSWORD}
        ).status_code
        == 302
    )
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"


# --- what is refused ---


def test_an_answer_to_a_sign_in_another_browser_started_is_refused(visitor):
    back = visitor.authorize(visitor.start(), "approver")
    stranger = other_browser()
    stranger.client.get("/accounts/login/")
    response = stranger.callback(back)
    assert signed_in_as(stranger.client) is None
    # This browser never started a sign-in: there is nothing to match the answer with.
    assert page_message(response) == ["The sign-in was not completed. Sign in again."]


def test_a_state_this_browser_did_not_send_is_refused(visitor):
    visitor.start()  # this browser has a sign-in under way, with its own state
    back = other_browser().authorize(other_browser().start(), "approver")
    response = visitor.callback(back.replace("state=", "state=x"))
    assert signed_in_as(visitor.client) is None
    assert "does not match a sign-in started in this browser" in page_message(response)[0]


def test_an_id_token_with_another_nonce_is_refused(visitor):
    url = visitor.start()
    state = query(url)["state"]
    session = visitor.client.session
    session["oidc_states"][state]["nonce"] = "n" * 32
    session.save()
    response = visitor.callback(visitor.authorize(url, "approver"))
    assert signed_in_as(visitor.client) is None
    assert "does not match a sign-in started in this browser" in page_message(response)[0]


def test_a_code_from_another_sign_in_fails_pkce_at_the_provider(visitor):
    """Code injection: an attacker's code under this browser's state. The provider refuses to
    exchange it, since this browser's verifier does not match the challenge it was issued for."""
    mine = query(visitor.start())
    attacker = other_browser()
    theirs = query(attacker.authorize(attacker.start(), "requester"))
    injected = f"{TEST_PORTAL}/oidc/callback/?" + urlencode(
        {"code": theirs["code"], "state": mine["state"]}
    )
    response = visitor.callback(injected)
    assert signed_in_as(visitor.client) is None
    assert "did not confirm this sign-in" in page_message(response)[0]


def test_a_callback_is_good_once(visitor):
    back = visitor.authorize(visitor.start(), "approver")
    assert visitor.callback(back).status_code == 302
    visitor.client.logout()
    assert signed_in_as(visitor.client) is None
    response = visitor.callback(back)
    assert signed_in_as(visitor.client) is None
    assert page_message(response)


def test_the_providers_refusal_is_shown(visitor):
    state = query(visitor.start())["state"]
    response = visitor.client.get(
        "/oidc/callback/",
        {"error": "access_denied", "error_description": "The user said no.", "state": state},
    )
    assert page_message(response) == [
        "The demo identity provider did not sign you in: The user said no."
    ]
    assert state not in visitor.client.session["oidc_states"]


def test_an_error_text_for_a_sign_in_this_browser_did_not_start_is_not_shown(visitor):
    visitor.start()
    response = visitor.client.get(
        "/oidc/callback/",
        {"error": "access_denied", "error_description": "Call 555-0100 now", "state": "forged"},
    )
    assert page_message(response) == ["The sign-in was not completed. Sign in again."]


def test_without_userinfo_the_id_token_says_it_all(visitor, settings):
    settings.OIDC_USE_USERINFO = False
    visitor.sign_in("auditor")
    assert signed_in_as(visitor.client) == "auditor"
    assert groups_of("auditor") == {"auditors"}
    assert User.objects.get(username="auditor").email == "auditor@example.com"


def test_the_provider_requires_pkce_and_a_registered_address(idp):
    provider = requests.Session()
    asked = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{TEST_PORTAL}/oidc/callback/",
        "scope": "openid",
        "state": "s" * 32,
    }
    no_pkce = provider.get(f"{idp.issuer}/authorize?{urlencode(asked)}", allow_redirects=False)
    assert no_pkce.status_code == 302
    assert query(no_pkce.headers["Location"])["error"] == "invalid_request"
    elsewhere = {**asked, "redirect_uri": "http://attacker.example/cb", "code_challenge": "c" * 43}
    refused = provider.get(f"{idp.issuer}/authorize?{urlencode(elsewhere)}", allow_redirects=False)
    assert refused.status_code == 400


def test_a_provider_that_does_not_answer_is_said_so(visitor, settings):
    with socket_closed() as port:
        settings.OIDC_ISSUER = f"http://127.0.0.1:{port}"
        response = visitor.client.get("/oidc/authenticate/")
    assert "does not answer" in page_message(response)[0]


@pytest.mark.parametrize(
    ("claims", "settings_changed", "said"),
    [
        ({}, {"OIDC_USERNAME_CLAIM": "upn"}, "did not send your username (claim 'upn')"),
        ({"preferred_username": "two words"}, {}, "is not one the portal can use"),
        ({"groups": {"approvers": True}}, {}, "in a form the portal cannot read"),
        ({"_claim_names": {"groups": "src1"}}, {}, "a reference to your groups"),
    ],
)
def test_claims_the_portal_cannot_use_are_refused_with_a_reason(
    visitor, idp, settings, claims, settings_changed, said
):
    for name, value in settings_changed.items():
        setattr(settings, name, value)
    idp.put_user("frank", groups=["approvers"], extra_claims=claims)
    response = visitor.sign_in("frank")
    assert signed_in_as(visitor.client) is None
    assert said in page_message(response)[0]
    assert not User.objects.filter(groups__name="approvers").exists()


def test_a_user_deactivated_in_the_portal_is_refused(visitor):
    UserFactory(username="approver", is_active=False)
    response = visitor.sign_in("approver")
    assert signed_in_as(visitor.client) is None
    assert "deactivated" in page_message(response)[0]


def test_a_deactivation_ends_open_sessions_at_their_next_request(visitor):
    visitor.sign_in("approver")
    user = User.objects.get(username="approver")
    assert visitor.client.get("/approvals/").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    answer = visitor.client.get("/approvals/")
    assert answer.status_code == 302 and answer.url.startswith("/accounts/login/")
    assert signed_in_as(visitor.client) is None


def test_the_provider_cannot_sign_in_a_break_glass_account(visitor, idp, settings):
    settings.BREAK_GLASS_USERS = ["breakglass"]
    admin = UserFactory(username="breakglass", is_superuser=True, is_staff=True)
    idp.put_user("BreakGlass", groups=[])
    response = visitor.sign_in("BreakGlass")
    assert signed_in_as(visitor.client) is None
    assert "break-glass account" in page_message(response)[0]
    admin.refresh_from_db()
    assert admin.is_superuser


def test_an_id_token_for_another_client_or_issuer_is_refused(idp, settings):
    """The ID token check beyond mozilla-django-oidc's: who issued it and for whom."""
    idp.control(
        "PUT",
        "clients/other",
        {"client_secret": "other-secret", "redirect_uris": ["http://other.example/cb"]},
    )
    token = id_token_from(
        idp, client_id="other", secret="other-secret", redirect="http://other.example/cb"
    )
    backend = SingleSignOnBackend()
    backend.OIDC_OP_JWKS_ENDPOINT = f"{idp.issuer}/jwks"
    backend.OIDC_RP_SIGN_ALGO = "RS256"
    backend.OIDC_RP_IDP_SIGN_KEY = None
    backend.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    with pytest.raises(SuspiciousOperation, match="ID token for 'other'"):
        backend.verify_token(token, nonce="n" * 32)
    settings.OIDC_RP_CLIENT_ID = "other"
    assert backend.verify_token(token, nonce="n" * 32)["aud"] == "other"
    settings.OIDC_ISSUER = "http://127.0.0.1:1"
    with pytest.raises(SuspiciousOperation, match="ID token issued by"):
        backend.verify_token(token, nonce="n" * 32)


# --- break glass: local passwords ---


@pytest.fixture
def break_glass(settings):
    settings.BREAK_GLASS_USERS = ["breakglass"]
    settings.LOCAL_LOGIN_ENABLED = True
    return UserFactory(username="breakglass", password=PASSWORD, is_superuser=True, is_staff=True)


def test_the_login_page_offers_the_provider_and_the_break_glass_form(client, break_glass):
    page = client.get("/accounts/login/?next=/approvals/").content.decode()
    assert 'href="/oidc/authenticate/?next=/approvals/"' in page
    assert "Sign in with the demo identity provider" in page
    assert 'name="password"' in page
    assert "autofocus" not in page  # the button comes first, not the break-glass form


def test_a_break_glass_admin_signs_in_with_a_password_and_it_is_recorded(client, break_glass):
    response = client.post("/accounts/login/", {"username": "breakglass", "password": PASSWORD})
    assert response.status_code == 302
    assert signed_in_as(client) == "breakglass"
    event = AuditEvent.objects.get(action="break_glass_login")
    assert event.actor == break_glass and event.details["path"] == "/accounts/login/"


def test_anyone_else_is_refused_the_password_path_even_with_the_right_password(client, break_glass):
    UserFactory(username="approver", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "approver", "password": PASSWORD})
    assert response.status_code == 200
    assert signed_in_as(client) is None
    page = response.content.decode()
    assert "or this is not a break-glass account" in page
    assert "Everyone else signs in with the demo identity provider" in page
    admin = UserFactory(username="root", password=PASSWORD, is_superuser=True, is_staff=True)
    response = client.post(
        "/admin/login/", {"username": admin.username, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 200 and signed_in_as(client) is None
    assert not AuditEvent.objects.filter(action="break_glass_login").exists()


def test_with_local_login_off_there_is_no_password_form_and_no_password_sign_in(
    client, break_glass, settings
):
    settings.LOCAL_LOGIN_ENABLED = False
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with the demo identity provider" in page
    assert 'name="password"' not in page
    response = client.post("/accounts/login/", {"username": "breakglass", "password": PASSWORD})
    assert response.status_code == 403
    assert "Signing in with a password is turned off" in response.content.decode()
    admin = client.post(
        "/admin/login/", {"username": "breakglass", "password": PASSWORD, "next": "/admin/"}
    )
    assert admin.status_code == 200 and signed_in_as(client) is None


def test_local_login_is_off_unless_someone_is_named(client, settings):
    settings.BREAK_GLASS_USERS = []
    settings.LOCAL_LOGIN_ENABLED = True
    assert 'name="password"' not in client.get("/accounts/login/").content.decode()


def test_production_must_name_its_provider(settings):
    from portal.accounts.checks import single_sign_on_configured

    settings.DEBUG = False
    settings.OIDC_ISSUER = ""
    settings.OIDC_RP_CLIENT_SECRET = ""
    [error] = single_sign_on_configured(None)
    assert error.id == "accounts.E001"
    assert "OIDC_ISSUER, OIDC_CLIENT_SECRET" in error.msg


# --- helpers ---


class socket_closed:
    """A loopback port that nothing listens on."""

    def __enter__(self):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc):
        return False


def id_token_from(idp, *, client_id, secret, redirect):
    """Sign in at the provider as another client would, by hand; return its ID token."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    asked = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": "openid profile",
        "state": "s" * 32,
        "nonce": "n" * 32,
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    provider = requests.Session()
    back = provider.post(
        f"{idp.issuer}/authorize?{urlencode(asked)}",
        data={"username": "approver", "password": PASSWORD},
        allow_redirects=False,
    )
    tokens = provider.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": query(back.headers["Location"])["code"],
            "redirect_uri": redirect,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    tokens.raise_for_status()
    return tokens.json()["id_token"]
