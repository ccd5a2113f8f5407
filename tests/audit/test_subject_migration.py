"""The log's subjects by id (audit 0007-0008): a database made before them keeps every sealed
event, still naming its request and service, and verifies as before; and back again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal.audit.services import audit_chain_verify
from tests.support.factories import ServiceRequestFactory

# Where main stood before the log named its subjects by id: the foreign keys, free-text actions.
BEFORE = [("audit", "0006_one_log")]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def sealed():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, action, request_id, service_id, hash FROM audit_auditevent ORDER BY seq"
        )
        return cursor.fetchall()


def test_events_written_before_keep_their_subjects_and_verify(requester):
    first, second = ServiceRequestFactory(requester=requester), ServiceRequestFactory()
    # The real log, sealed at today's head, then taken back and forward again.
    before = sealed()
    # (The users' accounts, made by the factories, are recorded too: with no subject.)
    assert [row[2] for row in before if row[1] != "right_recorded"] == [first.pk, second.pk]
    assert audit_chain_verify().ok

    apps = migrate(BEFORE)
    Event = apps.get_model("audit", "AuditEvent")
    assert sealed() == before
    # The old schema reads them through its foreign key, as its code did.
    assert list(
        Event.objects.filter(request__requester_id=requester.pk).values_list("action", flat=True)
    ) == ["created"]

    migrate()
    from portal.audit.models import AuditEvent

    assert sealed() == before
    assert [
        e.request_id for e in AuditEvent.objects.exclude(action="right_recorded").order_by("seq")
    ] == [first.pk, second.pk]
    assert first.events.count() == 1
    report = audit_chain_verify()
    assert report.ok, report
