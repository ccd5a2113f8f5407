"""Migrating to request kinds and service records, forward and back, keeps every chain intact."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal.audit.services import audit_chain_verify

BEFORE = [
    ("service_requests", "0005_text_search_trigram"),
    ("audit", "0004_seq_unique"),
    ("endpoint_services", None),
]


def migrate(targets=None):
    """Migrate to `targets`, or to the latest migrations; return the historical apps."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def old_request(apps, user, state, **fields):
    """Write a request the way the portal before kinds did, events and chain head included."""
    from portal.audit.legacy import GENESIS, chain_hash, event_content

    Request = apps.get_model("service_requests", "ServiceRequest")
    Event = apps.get_model("audit", "AuditEvent")
    Resource = apps.get_model("service_requests", "RequestResource")
    request = Request.objects.create(
        requester=user,
        region_id="cn-hangzhou",
        service_resource_type="nlb",
        state=state,
        justification="why",
        **fields,
    )
    Resource.objects.create(
        request=request,
        resource_type="nlb",
        resource_id=f"nlb-hzpool{request.pk:06d}",
        zone_id="cn-hangzhou-h",
    )
    prev = GENESIS
    for seq, action in enumerate(["created", "submit"], start=1):
        event = Event(request=request, seq=seq, actor=user, action=action, prev_hash=prev)
        event.hash = chain_hash(prev, event_content(event))
        event.save()
        prev = event.hash
    Request.objects.filter(pk=request.pk).update(audit_event_count=2, audit_last_hash=prev)
    return request


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_request_becomes_a_create_request_with_its_service(django_user_model):
    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="old-timer")
    Approval = old.get_model("service_requests", "Approval")
    active = old_request(
        old,
        user,
        "active",
        service_id="epsrv-migrated000000000001",
        service_name="com.aliyuncs.privatelink.cn-hangzhou.epsrv-migrated000000000001",
        cloud_status="Active",
    )
    creating = old_request(
        old, user, "creating", service_id="epsrv-migrated000000000002", cloud_status="Creating"
    )
    pending = old_request(old, user, "pending_approval", auto_accept_enabled=True, revision=2)
    approver = old.get_model("auth", "User").objects.create(username="old-approver")
    Approval.objects.create(request=pending, approver=approver, revision=2, decision="approve")
    draft = old_request(old, user, "draft")

    migrate()
    from portal.endpoint_services.models import EndpointService
    from portal.service_requests.models import ServiceRequest

    requests = ServiceRequest.objects.in_bulk([active.pk, creating.pk, pending.pk, draft.pk])
    assert {r.kind for r in requests.values()} == {"create"}
    service = EndpointService.objects.get(service_id="epsrv-migrated000000000001")
    assert requests[active.pk].endpoint_service == service
    assert (service.status, service.owner.username) == ("active", "old-timer")
    assert service.approved["resources"][0]["resource_id"] == f"nlb-hzpool{active.pk:06d}"
    assert requests[creating.pk].endpoint_service.status == "creating"
    assert requests[pending.pk].endpoint_service is None
    # The approval given before the migration still counts for the revision it was given to.
    assert requests[pending.pk].current_approvals().count() == 1
    assert audit_chain_verify().ok

    old = migrate(BEFORE)
    assert old.get_model("service_requests", "ServiceRequest").objects.count() == 4
    migrate()
    assert EndpointService.objects.count() == 2
    assert audit_chain_verify().ok
