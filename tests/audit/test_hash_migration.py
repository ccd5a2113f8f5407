"""Events written before the chain existed get their hashes from the data migration."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from portal.audit.services import audit_chain_verify

BEFORE = [("audit", "0001_initial"), ("service_requests", "0002_provisioning_fields")]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_existing_events_are_hashed_in_order():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("auth", "User")
    Request = old.get_model("service_requests", "ServiceRequest")
    Event = old.get_model("audit", "AuditEvent")
    user = User.objects.create(username="old-timer")
    request = Request.objects.create(requester=user, region_id="cn-hangzhou", client_token="t1")
    for action in ("created", "submit", "approve"):
        Event.objects.create(request=request, actor=user, action=action, created_at=timezone.now())
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    from portal.audit.models import AuditEvent
    from portal.service_requests.models import ServiceRequest

    events = list(AuditEvent.objects.filter(request_id=request.pk).order_by("seq"))
    # Hashed in order then, sealed into the one log now, with a baseline of the row as it is.
    assert [(e.seq, e.action) for e in events] == [
        (1, "created"),
        (2, "submit"),
        (3, "approve"),
        (4, "baseline"),
    ]
    assert ServiceRequest.objects.get(pk=request.pk).state == events[-1].to_state
    report = audit_chain_verify()
    assert report.ok, report
