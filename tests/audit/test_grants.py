"""Every grant of a right is a sealed event however it is made, and verification names any
rights row the log does not explain (portal.audit.grants)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.accounts.models import Identity
from portal.api.models import AccessToken, token_digest
from portal.approvals.models import Delegation
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.teams.models import Membership, Role, Team
from tests.support.api import token
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def recorded(table):
    """The right_recorded events about `table`'s rows, oldest first: (actor, details)."""
    return [
        (event.actor_name, event.details)
        for event in AuditEvent.objects.filter(
            action="right_recorded", details__table=table
        ).order_by("seq")
    ]


def news(table, before):
    return recorded(table)[len(before) :]


def raw_insert(row):
    """Write `row` (an unsaved model instance) with plain SQL, as someone holding the
    database would; return its id."""
    fields = [field for field in row._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
    table = connection.ops.quote_name(row._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})", values
        )
    return type(row).objects.order_by("-pk").values_list("pk", flat=True).first()


def sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# --- recorded however made -------------------------------------------------------------------


def test_a_role_given_in_a_shell_is_recorded_and_its_removal_too(requester, groups):
    approvers = groups["approvers"]
    before = recorded("group_member")
    requester.groups.add(approvers)
    requester.groups.remove(approvers)
    approvers.user_set.add(requester)  # from the group's side
    approvers.user_set.clear()
    rows = [(d["holder"], d["row"], d["source"]) for _actor, d in news("group_member", before)]
    given = {"user": requester.pk, "group": approvers.pk}
    assert rows == [
        (requester.pk, given, "direct"),
        (requester.pk, None, "direct"),
        (requester.pk, given, "direct"),
        (requester.pk, None, "direct"),
    ]
    assert audit_chain_verify().ok


def test_the_admin_making_someone_an_approver_is_sealed_with_the_admin_as_grantor(
    client, admin_user, requester, groups
):
    client.force_login(admin_user)
    page = client.get(f"/admin/auth/user/{requester.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }
    data.update(
        {
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": requester.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": requester.date_joined.strftime("%H:%M:%S"),
            "groups": [groups["approvers"].pk],
            "is_staff": "on",
        }
    )
    data = {name: value for name, value in data.items() if value is not False}
    before_members, before_users = recorded("group_member"), recorded("user")
    response = client.post(f"/admin/auth/user/{requester.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    [(actor, member)] = news("group_member", before_members)
    assert (actor, member["source"], member["row"]["group"]) == (
        admin_user.username,
        "admin",
        groups["approvers"].pk,
    )
    [(actor, flags)] = news("user", before_users)
    assert (actor, flags["row"]["is_staff"]) == (admin_user.username, True)
    assert audit_chain_verify().ok


def test_a_flag_saved_is_recorded_and_a_sign_in_time_is_not(requester):
    before = recorded("user")
    requester.last_login = timezone.now()
    requester.save(update_fields=["last_login"])
    requester.first_name = "Req"
    requester.save()  # the whole row, no right changed
    assert news("user", before) == []
    requester.is_superuser = True
    requester.save()
    [(_actor, details)] = news("user", before)
    assert details["row"] == {"is_active": True, "is_staff": False, "is_superuser": True}
    assert details["label"] == {"user": "requester"}


def test_deleting_an_account_records_the_end_of_its_roles(requester, groups):
    requester.groups.add(groups["approvers"])
    before = recorded("group_member")
    requester.delete()
    [(_actor, details)] = news("group_member", before)
    assert details["row"] is None
    assert recorded("user")[-1][1]["row"] is None
    assert audit_chain_verify().ok


def test_teams_delegations_tokens_and_identities_made_through_the_models_are_recorded(
    requester, approver
):
    team = Team.objects.create(name="payments")
    membership = Membership.objects.create(team=team, user=requester, role=Role.APPROVER)
    now = timezone.now()
    delegation = Delegation.objects.create(
        delegator=approver,
        delegate=requester,
        starts_at=now,
        ends_at=now + timedelta(days=1),
        reason="holiday",
    )
    token(requester)
    Identity.objects.create(user=requester, issuer="https://idp.example", subject="s-1")
    membership.delete()

    tables = [
        (d["table"], d["holder"], d["row"] is None)
        for _actor, d in news("team_membership", [])
        + news("delegation", [])
        + news("token", [])
        + news("identity", [])
    ]
    assert tables == [
        ("team_membership", requester.pk, False),
        ("team_membership", requester.pk, True),
        ("delegation", requester.pk, False),
        ("token", requester.pk, False),
        ("identity", requester.pk, False),
    ]
    assert recorded("delegation")[0][1]["row"]["ends_at"] == (
        delegation.ends_at.isoformat().replace("Z", "+00:00")
    )
    assert audit_chain_verify().ok


# --- verification names what the log does not explain -------------------------------------


def _approvers_membership(user, groups):
    sql(
        "INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)",
        [user.pk, groups["approvers"].pk],
    )
    return "group_member #"


def _superuser_flag(user, groups):
    sql("UPDATE auth_user SET is_superuser = %s WHERE id = %s", [True, user.pk])
    return f"user #{user.pk} (is_active=True, is_staff=False, is_superuser=True) is "


def _team_approver(user, groups):
    team = Team.objects.create(name="payments")
    pk = raw_insert(Membership(team=team, user=user, role=Role.APPROVER, source="admin"))
    return f"team_membership #{pk} ("


def _delegation(user, groups):
    lender = UserFactory(username="lender")
    lender.groups.add(groups["approvers"])
    now = timezone.now()
    pk = raw_insert(
        Delegation(
            delegator=lender,
            delegate=user,
            starts_at=now,
            ends_at=now + timedelta(days=1),
            reason="none",
            created_at=now,
        )
    )
    return f"delegation #{pk} ("


def _token(user, groups):
    pk = raw_insert(
        AccessToken(
            user=user,
            name="mine",
            scope="write",
            prefix="deadbeef",
            digest=token_digest("plp_deadbeef_x"),
            created_at=timezone.now(),
        )
    )
    return f"token #{pk} ("


def _recorded_membership_deleted(user, groups):
    user.groups.add(groups["approvers"])
    sql("DELETE FROM auth_user_groups WHERE user_id = %s", [user.pk])
    return "which is no longer in the database: it was deleted behind the portal's back"


def _token_scope_raised(user, groups):
    secret = token(user, scope="read")
    prefix = secret.split("_")[1]
    sql("UPDATE api_accesstoken SET scope = %s WHERE prefix = %s", ["write", prefix])
    return "scope=write (recorded read)"


@pytest.mark.parametrize(
    "tamper",
    [
        _approvers_membership,
        _superuser_flag,
        _team_approver,
        _delegation,
        _token,
        _recorded_membership_deleted,
        _token_scope_raised,
    ],
)
def test_a_right_written_in_the_database_is_named(requester, groups, tamper):
    assert audit_chain_verify().ok
    expected = tamper(requester, groups)
    report = audit_chain_verify()
    assert not report.ok
    assert expected in report.message, report.message


def test_rights_are_counted_in_the_report(requester, approver):
    report = audit_chain_verify()
    assert report.ok
    # Two accounts, two groups and the approver's membership.
    assert report.rights_checked == 5
    assert "5 rights" in str(report)


def test_a_group_renamed_in_the_database_is_named(requester, groups):
    sql("UPDATE auth_group SET name = %s WHERE id = %s", ["auditors-x", groups["auditors"].pk])
    report = audit_chain_verify()
    assert not report.ok and f"group #{groups['auditors'].pk}" in report.message


def test_a_staff_user_with_a_permission_written_in_the_database_gets_no_admin(client, groups):
    from django.contrib.auth.models import Permission

    staffer = UserFactory(username="staffer", is_staff=True)
    change_user = Permission.objects.get(codename="change_user")
    sql(
        "INSERT INTO auth_user_user_permissions (user_id, permission_id) VALUES (%s, %s)",
        [staffer.pk, change_user.pk],
    )
    client.force_login(staffer)
    answer = client.get(f"/admin/auth/user/{staffer.pk}/change/")
    assert answer.status_code == 302 and "/admin/login/" in answer.url
    assert client.get("/admin/").status_code == 302


def test_a_providers_membership_relabelled_as_an_admins_is_named(requester):
    team = Team.objects.create(name="payments")
    membership = Membership.objects.create(
        team=team, user=requester, role=Role.APPROVER, source="provider"
    )
    sql("UPDATE teams_membership SET source = %s WHERE id = %s", ["admin", membership.pk])
    report = audit_chain_verify()
    assert not report.ok and "source=admin (recorded provider)" in report.message


def test_a_right_granted_while_the_walk_reads_is_no_false_alarm(requester, monkeypatch):
    from portal.audit import services

    team = Team.objects.create(name="payments")
    walk = services._walk_chain

    def walk_then_grant(*args, **kwargs):
        found = walk(*args, **kwargs)
        # Someone signs in elsewhere while the walk reads (SQLite: no snapshot to share).
        Membership.objects.create(team=team, user=requester, role=Role.APPROVER)
        requester.groups.clear()
        return found

    monkeypatch.setattr(services, "_walk_chain", walk_then_grant)
    report = audit_chain_verify()
    assert report.ok, report.message
    # ...while a row written behind the portal's back meanwhile is still named.
    monkeypatch.setattr(
        services,
        "_walk_chain",
        lambda *a, **k: (walk(*a, **k), sql("UPDATE auth_user SET is_staff = %s", [True]))[0],
    )
    assert not audit_chain_verify().ok
