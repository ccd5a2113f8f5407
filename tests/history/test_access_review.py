"""The access review: who held which right on a day and who granted it, from the log alone."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.approvals import services as approval_services
from portal.history.access import access_review
from portal.teams.models import Membership, Role, Team
from tests.support.api import token
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def rights(review):
    return {(h.person, h.right, h.scope) for h in review.rows}


def test_each_right_is_listed_with_its_grantor(login, auditor, approver, requester, groups):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    Membership.objects.create(
        team=Team.objects.create(name="payments"), user=requester, role=Role.APPROVER
    )
    now = timezone.now()
    approval_services.delegation_create(
        delegator=approver,
        delegate=requester,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
        reason="holiday",
    )
    token(requester, scope="write")
    token(approver, scope="read")  # a read token is no right to change anything

    review = access_review(timezone.now())
    assert rights(review) == {
        ("approver", "approver", ""),
        ("auditor", "auditor", ""),
        ("root", "admin", ""),
        ("requester", "team approver", "payments"),
        ("requester", "delegate", "for approver"),
        ("requester", "write token", f"token #{requester.access_tokens.get().pk}"),
    }
    delegate = next(h for h in review.rows if h.right == "delegate")
    assert (delegate.granted_by, delegate.source, delegate.account_active) == (
        "approver",
        "direct",
        True,
    )
    assert admin.pk  # made before the review


def test_a_past_day_shows_what_was_held_then_not_now(approver, groups, monkeypatch):
    before = timezone.now()
    approver.groups.remove(groups["approvers"])
    assert ("approver", "approver", "") in rights(access_review(before))
    assert ("approver", "approver", "") not in rights(access_review(timezone.now()))


def test_a_right_written_in_the_database_is_not_in_the_review(requester, groups):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)",
            [requester.pk, groups["approvers"].pk],
        )
    assert ("requester", "approver", "") not in rights(access_review(timezone.now()))


def test_the_page_and_its_csv(login, auditor, approver):
    client = login(auditor)
    page = client.get("/audit/access/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="access-review"' in html and "<td>approver</td>" in html

    today = timezone.now().date().isoformat()
    export = client.get("/audit/access/", {"on": today, "format": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    assert f"access-review-{today}.csv" in export["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {(r["person"], r["right"], r["account_active"]) for r in rows} == {
        ("approver", "approver", "yes"),
        ("auditor", "auditor", "yes"),
    }


def test_a_day_to_come_is_refused_at_the_field(login, auditor):
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    page = login(auditor).get("/audit/access/", {"on": tomorrow})
    assert page.status_code == 400
    assert "That day has not ended" in page.content.decode()
    assert login(auditor).get("/audit/access/", {"on": "not-a-day"}).status_code == 400


def test_only_auditors_and_admins_review_access(login, approver, requester):
    assert login(approver).get("/audit/access/").status_code == 403
    assert login(requester).get("/audit/access/", {"format": "csv"}).status_code == 403


def test_the_admin_right_keeps_its_grantor_through_later_changes(requester):
    granter = UserFactory(username="granter", is_superuser=True)
    from portal.audit import grants

    with grants.by(granter):
        requester.is_superuser = True
        requester.save()
    requester.is_active = False
    requester.save()  # a shell, later: not who made them an admin
    requester.is_active = True
    requester.save()
    [admin] = [h for h in access_review(timezone.now()).rows if h.person == "requester"]
    assert (admin.right, admin.granted_by) == ("admin", "granter")


def test_the_provider_is_named_as_the_grantor_of_what_it_gave(client, groups):
    from tests.accounts.test_scim import group, made

    alice = made(client, "alice", "sub-alice")
    group(client, "approvers", alice)
    [held] = [h for h in access_review(timezone.now()).rows if h.person == "alice"]
    assert (held.right, held.granted_by, held.source) == (
        "approver",
        "the identity provider (SCIM)",
        "scim",
    )
