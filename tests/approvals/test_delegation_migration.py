"""Delegations move to the approvals app (approvals 0001, service_requests 0021): a database
made before keeps every delegation, the admin's permissions on them keep their grants, and
the move goes back."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("service_requests", "0020_submission_key"), ("approvals", None)]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    # (app, None) is "none of that app's migrations": the state of the others.
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def test_delegations_made_before_the_move_are_the_approvals_and_keep_their_grants(
    approver, requester
):
    ContentType.objects.clear_cache()
    apps = migrate(BEFORE)
    assert "delegation" not in apps.all_models["approvals"]
    Old = apps.get_model("service_requests", "Delegation")
    now = timezone.now()
    made = Old.objects.create(
        delegator_id=approver.pk,
        delegate_id=requester.pk,
        starts_at=now,
        ends_at=now + timezone.timedelta(days=3),
        reason="a conference",
    )
    # The admin's permissions on delegations, as a database made then holds them, given to a
    # group of helpdesk people.
    old_type, _ = ContentType.objects.get_or_create(
        app_label="service_requests", model="delegation"
    )
    view, _ = Permission.objects.get_or_create(
        content_type=old_type, codename="view_delegation", defaults={"name": "Can view delegation"}
    )
    Group.objects.create(name="helpdesk").permissions.add(view)

    migrate()
    ContentType.objects.clear_cache()
    from portal.approvals.models import Delegation

    moved = Delegation.objects.get()
    assert (moved.pk, moved.delegator, moved.delegate, moved.reason) == (
        made.pk,
        approver,
        requester,
        "a conference",
    )
    assert moved.status() == "active"
    assert not ContentType.objects.filter(app_label="service_requests", model="delegation")
    granted = Group.objects.get(name="helpdesk").permissions.get()
    assert (granted.content_type.app_label, granted.codename) == ("approvals", "view_delegation")

    apps = migrate(BEFORE)
    ContentType.objects.clear_cache()
    assert apps.get_model("service_requests", "Delegation").objects.get().reason == "a conference"
    assert Group.objects.get(name="helpdesk").permissions.get().content_type.app_label == (
        "service_requests"
    )
    migrate()
    ContentType.objects.clear_cache()
