"""Provisioning from the identity provider over SCIM 2.0 (/scim/v2/): users and groups made,
changed, deactivated and deleted, applied at once to accounts, roles and teams."""

import json
import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from portal.accounts.models import DirectoryUser, Identity
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.teams.models import Membership, Role
from tests.support.api import call, token

pytestmark = pytest.mark.django_db
User = get_user_model()


def scim(client, method, path, body=None, secret=None):
    secret = settings.SCIM_BEARER_TOKEN if secret is None else secret
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    response = client.generic(
        method,
        f"/scim/v2/{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/scim+json",
        **headers,
    )
    return response


def person(username, subject, active=True, **extra):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": username,
        "externalId": subject,
        "name": {"givenName": username.title(), "familyName": "Doe"},
        "emails": [{"value": f"{username}@example.com", "primary": True}],
        "active": active,
        **extra,
    }


def made(client, username, subject="sub-" + "x"):
    response = scim(client, "POST", "Users", person(username, subject))
    assert response.status_code == 201, response.content
    return response.json()["id"]


def group(client, name, *member_ids):
    response = scim(
        client,
        "POST",
        "Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": [{"value": member} for member in member_ids],
        },
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def members(client, group_id, op, *member_ids):
    return scim(
        client,
        "PATCH",
        f"Groups/{group_id}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": op, "path": "members", "value": [{"value": m} for m in member_ids]}
            ],
        },
    )


@pytest.fixture
def alice(client, groups):
    return made(client, "alice", "sub-alice")


def test_only_the_providers_secret_opens_scim(client, login, admin_user, settings):
    assert scim(client, "GET", "Users", secret="").status_code == 401
    assert scim(client, "GET", "Users", secret="wrong").status_code == 401
    # A signed-in admin's session is not the provider.
    assert scim(login(admin_user), "GET", "Users", secret="").status_code == 401
    assert scim(client, "GET", "Users").status_code == 200
    settings.SCIM_BEARER_TOKEN = ""
    assert scim(client, "GET", "Users", secret="").status_code == 401


def test_every_scim_url_refuses_a_session(login, admin_user):
    from tests.project.test_access_matrix import project_patterns

    routes = {n: r for n, r in project_patterns().items() if n.startswith("scim:")}
    assert len(routes) == 11
    client = login(admin_user)
    for name, route in routes.items():
        path = re.sub(r"\(\?.*\)\?\$?$|\^|\$", "", route).replace("\\.", ".")
        for method in ("GET", "POST"):
            answer = scim(client, method, path.removeprefix("/scim/v2/"), secret="")
            assert answer.status_code == 401, (name, method, path)


def test_a_pushed_user_becomes_an_account_bound_to_its_subject(client, alice):
    user = User.objects.get(username="alice")
    assert (user.first_name, user.email, user.is_active) == ("Alice", "alice@example.com", True)
    assert Identity.objects.get(user=user).subject == "sub-alice"
    assert not user.has_usable_password()
    linked = AuditEvent.objects.get(action="identity_linked")
    assert linked.details["source"] == "scim"
    found = scim(client, "GET", 'Users?filter=externalId eq "sub-alice"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == alice


def test_groups_make_roles_and_teams_before_anyone_signs_in(client, alice):
    group(client, "approvers", alice)
    group(client, "payments-approvers", alice)
    user = User.objects.get(username="alice")
    assert user.groups.filter(name="approvers").exists()
    membership = Membership.objects.get(user=user)
    assert (membership.team.name, membership.role) == ("payments", Role.APPROVER)
    sources = set(
        AuditEvent.objects.filter(action="right_recorded", details__holder=user.pk).values_list(
            "details__source", flat=True
        )
    )
    assert sources == {"scim"}
    assert audit_chain_verify().ok


def test_a_group_removed_ends_the_role_in_open_sessions_and_tokens(client, login, alice):
    approvers = group(client, "approvers", alice)
    user = User.objects.get(username="alice")
    browser = login(user)
    assert browser.get("/approvals/").status_code == 200
    secret = token(user, scope="write")
    assert call(client, "GET", "me", secret).json()["roles"] == ["approver"]

    assert members(client, approvers, "remove", alice).status_code == 200
    assert browser.get("/approvals/").status_code == 403
    assert call(client, "GET", "me", secret).json()["roles"] == []
    assert audit_chain_verify().ok


def test_a_deactivation_ends_sessions_and_tokens_at_once(client, login, alice):
    user = User.objects.get(username="alice")
    browser = login(user)
    secret = token(user, scope="write")
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        # As Entra ID sends it: the boolean as text.
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert scim(client, "PATCH", f"Users/{alice}", patch).status_code == 200
    user.refresh_from_db()
    assert not user.is_active
    answer = browser.get("/")
    assert answer.status_code == 302 and answer.url.startswith("/accounts/login/")
    assert call(client, "GET", "me", secret).status_code == 401


def test_a_deleted_user_keeps_the_account_deactivated_with_no_role(client, alice):
    group(client, "approvers", alice)
    assert scim(client, "DELETE", f"Users/{alice}").status_code == 204
    user = User.objects.get(username="alice")
    assert not user.is_active and not user.groups.exists()
    assert not DirectoryUser.objects.exists()
    # The same person pushed again: the same account, active again.
    made(client, "alice", "sub-alice")
    user.refresh_from_db()
    assert user.is_active and User.objects.filter(username="alice").count() == 1


def test_a_rename_at_the_provider_keeps_the_account(client, alice):
    user = User.objects.get(username="alice")
    answer = scim(client, "PUT", f"Users/{alice}", person("alice.doe", "sub-alice"))
    assert answer.status_code == 200, answer.content
    user.refresh_from_db()
    assert user.username == "alice.doe"
    assert AuditEvent.objects.filter(action="username_changed").exists()


def test_a_new_subject_never_takes_an_existing_account(client, requester):
    answer = scim(client, "POST", "Users", person("REQUESTER", "sub-intruder"))
    assert answer.status_code == 409
    assert not Identity.objects.filter(subject="sub-intruder").exists()
    assert not DirectoryUser.objects.exists()


def test_the_break_glass_account_is_not_the_providers(client, settings):
    settings.BREAK_GLASS_USERS = ["breakglass"]
    answer = scim(client, "POST", "Users", person("breakglass", "sub-bg"))
    assert answer.status_code == 409
    assert not User.objects.filter(username="breakglass").exists()


def test_bad_input_is_a_scim_error_and_changes_nothing(client):
    no_subject = person("bob", "")
    assert scim(client, "POST", "Users", no_subject).status_code == 400
    assert scim(client, "POST", "Users", person("b ob", "sub-bob")).status_code == 400
    assert scim(client, "PATCH", "Groups/999", {"Operations": []}).status_code in (400, 404)
    ghost = group(client, "auditors")
    assert members(client, ghost, "add", "424242").status_code == 400
    assert not User.objects.exists()


def test_a_user_pushed_then_signing_in_is_the_same_account(client, idp):
    from tests.accounts.test_oidc import other_browser, signed_in_as

    subject = idp.put_user("frank", groups=["approvers"])["sub"]
    made(client, "frank", subject)
    browser = other_browser()
    browser.sign_in("frank")
    assert signed_in_as(browser.client) == "frank"
    assert User.objects.filter(username="frank").count() == 1


def test_an_account_seeded_before_identities_is_bound_not_refused(client, requester):
    answer = scim(client, "POST", "Users", person("requester", "sub-requester"))
    assert answer.status_code == 201, answer.content
    assert Identity.objects.get(subject="sub-requester").user == requester
    assert AuditEvent.objects.get(action="identity_linked").details["new_account"] is False
    # Bound once: another subject with the name is refused from now on.
    assert scim(client, "POST", "Users", person("requester", "sub-other")).status_code == 409


def test_an_account_deactivated_in_the_portal_stays_off_whatever_is_pushed(client, alice):
    user = User.objects.get(username="alice")
    user.is_active = False
    user.save()  # an administrator, in the portal
    renamed = person("alice", "sub-alice", **{"name": {"givenName": "Al", "familyName": "Doe"}})
    assert scim(client, "PUT", f"Users/{alice}", renamed).status_code == 200
    user.refresh_from_db()
    assert not user.is_active and user.first_name == "Al"


def test_a_legacy_account_deactivated_in_the_portal_is_bound_but_stays_off(client, requester):
    requester.is_active = False
    requester.save()
    assert scim(client, "POST", "Users", person("requester", "sub-r")).status_code == 201
    requester.refresh_from_db()
    assert not requester.is_active


def test_the_provider_turns_back_on_whom_it_turned_off(client, alice):
    off = person("alice", "sub-alice", active=False)
    assert scim(client, "PUT", f"Users/{alice}", off).status_code == 200
    assert scim(client, "PUT", f"Users/{alice}", person("alice", "sub-alice")).status_code == 200
    assert User.objects.get(username="alice").is_active


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "Users", {**person("bob", "sub-bob"), "userName": 5}),
        ("POST", "Users", {**person("bob", "sub-bob"), "name": "Bob Doe"}),
        ("POST", "Users", ["not", "an", "object"]),
        ("PATCH", "Users/{alice}", {"Operations": "x"}),
        ("PATCH", "Users/{alice}", {"Operations": [5]}),
        ("PATCH", "Users/{alice}", {"Operations": [{"op": "replace", "value": {"active": 0}}]}),
        (
            "PATCH",
            "Users/{alice}",
            {"Operations": [{"op": "replace", "path": "userName", "value": 5}]},
        ),
        ("PUT", "Groups/{group}", {"displayName": "approvers", "members": "garbage"}),
        ("PUT", "Groups/{group}", {"displayName": "approvers", "members": {"value": "1"}}),
        ("PATCH", "Groups/{group}", {"Operations": [{"op": "add", "path": "members", "value": 5}]}),
        (
            "PATCH",
            "Groups/{group}",
            {"Operations": [{"op": "replace", "path": "displayName", "value": []}]},
        ),
    ],
)
def test_malformed_calls_are_400s_and_change_nothing(client, alice, method, path, body):
    approvers = group(client, "approvers", alice)
    answer = scim(client, method, path.format(alice=alice, group=approvers), body)
    assert answer.status_code == 400, answer.content
    user = User.objects.get(username="alice")
    assert user.is_active and user.groups.filter(name="approvers").exists()


def test_a_group_renamed_onto_another_is_a_409(client, alice):
    group(client, "approvers", alice)
    auditors = group(client, "auditors")
    rename = {"Operations": [{"op": "replace", "path": "displayName", "value": "approvers"}]}
    assert scim(client, "PATCH", f"Groups/{auditors}", rename).status_code == 409
    found = scim(client, "GET", 'Groups?filter=displayName eq "auditors"').json()
    assert found["totalResults"] == 1
