"""An account is the provider's subject, not its username: a new subject never gets an existing
account, a renamed person keeps theirs, and each binding is sealed in the audit log."""

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from portal.accounts.models import Identity
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.idp import Browser

pytestmark = pytest.mark.django_db
User = get_user_model()


def FULL_WIDTH(name):
    """`name` in full-width letters, which look like it."""
    return "".join(chr(ord(letter) + 0xFEE0) for letter in name)


def browser():
    return Browser(Client(), requests.Session())


def signed_in_as(client):
    user = client.get("/healthz/").wsgi_request.user
    return user.get_username() if user.is_authenticated else None


def refusal(response):
    assert response.status_code == 302 and response["Location"] == "/accounts/login/", response
    return " ".join(str(m) for m in response.wsgi_request._messages)


def test_the_first_sign_in_binds_the_account_to_its_subject_sealed(idp):
    sub = idp.put_user("erin", groups=["payments"])["sub"]
    browser().sign_in("erin")
    erin = User.objects.get(username="erin")
    assert list(erin.identities.values_list("issuer", "subject")) == [(idp.issuer.rstrip("/"), sub)]
    event = AuditEvent.objects.get(action="identity_linked")
    assert (event.actor, event.details["subject"], event.details["new_account"]) == (
        erin,
        sub,
        True,
    )
    assert audit_chain_verify().ok


def test_another_subject_called_the_same_in_other_case_gets_no_account(idp):
    """The finding: a provider identity named REQUESTER signed in as requester."""
    browser().sign_in("requester")
    requester = User.objects.get(username="requester")
    ServiceRequestFactory(requester=requester)
    idp.put_user("REQUESTER", groups=["approvers"])
    intruder = browser()
    response = intruder.sign_in("REQUESTER")
    assert signed_in_as(intruder.client) is None
    assert "belongs to another identity" in refusal(response)
    assert intruder.client.get("/account/tokens/").status_code == 302
    assert User.objects.filter(username__iexact="requester").count() == 1
    assert not requester.groups.exists()


def test_a_username_given_to_a_new_person_at_the_provider_is_not_their_account(idp):
    browser().sign_in("requester")
    # The provider deletes requester and makes someone else under the same name: another sub.
    idp.put_user("requester", extra_claims={"sub": "someone-else-0001"})
    newcomer = browser()
    response = newcomer.sign_in("requester")
    assert signed_in_as(newcomer.client) is None
    assert "belongs to another identity" in refusal(response)
    assert Identity.objects.count() == 1


def test_a_person_renamed_at_the_provider_keeps_their_account_and_history(idp):
    idp.put_user("erin")
    first = browser()
    first.sign_in("erin")
    erin = User.objects.get(username="erin")
    filed = ServiceRequestFactory(requester=erin)
    first.sign_out(at_the_provider=True)
    idp.put_user("erin", extra_claims={"preferred_username": "erin.moss"})
    again = browser()
    again.sign_in("erin")
    assert signed_in_as(again.client) == "erin.moss"
    erin.refresh_from_db()
    assert erin.get_username() == "erin.moss"
    assert again.client.get(filed.get_absolute_url()).status_code == 200
    event = AuditEvent.objects.get(action="username_changed")
    assert (event.actor, event.details["from"], event.details["to"]) == (erin, "erin", "erin.moss")
    assert audit_chain_verify().ok


def test_a_rename_onto_another_accounts_name_is_refused_and_changes_nothing(idp):
    UserFactory(username="frank")
    idp.put_user("erin")
    browser().sign_in("erin")
    idp.put_user("erin", extra_claims={"preferred_username": "Frank"})
    again = browser()
    response = again.sign_in("erin")
    assert signed_in_as(again.client) is None
    assert "the name of another account" in refusal(response)
    assert User.objects.filter(username="erin").exists()
    assert not AuditEvent.objects.filter(action="username_changed").exists()


def test_an_account_made_before_subjects_were_kept_is_bound_once(idp):
    """Accounts made before this change (seed_demo's, the admin's) are bound at their next
    sign-in, by their exact username; after that the name is the subject's alone."""
    dana = UserFactory(username="dana")
    ServiceRequestFactory(requester=dana)
    idp.put_user("dana")
    browser().sign_in("dana")
    assert Identity.objects.get().user == dana
    event = AuditEvent.objects.get(action="identity_linked")
    assert event.details["new_account"] is False
    idp.put_user("dana", extra_claims={"sub": "a-later-dana"})
    later = browser()
    assert "belongs to another identity" in refusal(later.sign_in("dana"))
    assert signed_in_as(later.client) is None


def test_an_old_account_in_other_case_is_not_bound_to_a_new_subject(idp):
    UserFactory(username="requester")
    idp.put_user("Requester", groups=[])
    stranger = browser()
    assert "belongs to another identity" in refusal(stranger.sign_in("Requester"))
    assert not Identity.objects.exists()


def test_one_account_per_subject_holds_in_the_database(idp):
    sub = idp.put_user("erin")["sub"]
    browser().sign_in("erin")
    other = UserFactory(username="gil")
    with pytest.raises(Exception, match=r"(?i)unique"), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_identity (user_id, issuer, subject, created_at) "
            "VALUES (%s, %s, %s, CURRENT_TIMESTAMP)",
            [other.pk, idp.issuer.rstrip("/"), sub],
        )


def test_a_break_glass_account_never_signs_in_through_the_provider_even_renamed(idp, settings):
    """Found by an attacker's review: an account bound to a subject, then made a break-glass
    account, signed in through the provider once the provider renamed its person."""
    idp.put_user("ops")
    browser().sign_in("ops")
    settings.BREAK_GLASS_USERS = ["ops"]
    idp.put_user("ops", extra_claims={"preferred_username": "ops.person"})
    again = browser()
    response = again.sign_in("ops")
    assert signed_in_as(again.client) is None
    assert "break-glass account" in refusal(response)
    assert User.objects.filter(username="ops").exists()


def test_a_lookalike_username_in_full_width_letters_is_refused_not_a_500(idp):
    UserFactory(username="requester")
    idp.put_user("att1", extra_claims={"preferred_username": FULL_WIDTH("requester")})
    newcomer = browser()
    response = newcomer.sign_in("att1")
    assert signed_in_as(newcomer.client) is None
    assert "is not one the portal can use" in refusal(response)
    # Nor may a bound person be renamed into one.
    idp.put_user("erin")
    browser().sign_in("erin")
    idp.put_user("erin", extra_claims={"preferred_username": FULL_WIDTH("erin")})
    assert "is not one the portal can use" in refusal(browser().sign_in("erin"))
    assert User.objects.filter(username="erin").exists()


def test_two_subjects_cannot_both_bind_one_older_account():
    from portal.accounts.backends import SingleSignOnBackend
    from portal.accounts.oidc import SignInRefused

    dana = UserFactory(username="dana")
    backend = SingleSignOnBackend()
    first = {"sub": "s-one", "preferred_username": "dana", "groups": []}
    second = {"sub": "s-two", "preferred_username": "dana", "groups": []}
    # Both looked the account up before either bound it (two sign-ins at the same moment).
    [found_first], [found_second] = (
        backend.filter_users_by_claims(first),
        backend.filter_users_by_claims(second),
    )
    backend.update_user(found_first, first)
    with pytest.raises(SignInRefused, match="belongs to another identity"):
        backend.update_user(found_second, second)
    assert list(dana.identities.values_list("subject", flat=True)) == ["s-one"]
