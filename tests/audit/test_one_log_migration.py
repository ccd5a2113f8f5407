"""From one chain per request to one keyed log: forward, refused when broken, and back."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from portal.audit import legacy
from portal.audit.services import audit_chain_verify

one_log = importlib.import_module("portal.audit.migrations.0006_one_log")
BEFORE = [
    ("audit", "0005_service_events"),
    ("service_requests", "0007_services_from_requests"),
    ("endpoint_services", "0001_initial"),
]

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def chained(apps, subject, events, **link):
    """Write legacy events for a subject, chained the old way, and its head."""
    Event = apps.get_model("audit", "AuditEvent")
    prev, made = legacy.GENESIS, []
    for seq, (action, actor) in enumerate(events, start=1):
        event = Event(
            seq=seq,
            actor=actor,
            action=action,
            created_at=timezone.now(),
            prev_hash=prev,
            **link,
        )
        event.hash = prev = legacy.chain_hash(prev, legacy.event_content(event))
        event.save()
        made.append(event)
    type(subject).objects.filter(pk=subject.pk).update(
        audit_event_count=len(events), audit_last_hash=prev
    )
    return made


@pytest.fixture
def old_log():
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    Request = apps.get_model("service_requests", "ServiceRequest")
    Service = apps.get_model("endpoint_services", "EndpointService")
    user = User.objects.create(username="old-timer")
    first = Request.objects.create(requester=user, region_id="cn-hangzhou", client_token="t1")
    second = Request.objects.create(requester=user, region_id="cn-hangzhou", client_token="t2")
    service = Service.objects.create(service_id="epsrv-old00000000000000", region_id="cn-hangzhou")
    chained(apps, first, [("created", user), ("edited", user)], request=first)
    chained(apps, service, [("created", None)], service=service)
    chained(apps, second, [("created", user)], request=second)
    return apps, first, second, service


def test_old_chains_become_one_keyed_log(old_log):
    _apps, first, second, service = old_log
    migrate()
    from portal.audit.models import AuditEvent, ChainHead

    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, 9))
    assert [(e.action, e.request_id or e.service_id) for e in events[:4]] == [
        ("created", first.pk),
        ("edited", first.pk),
        ("created", service.pk),
        ("created", second.pk),
    ]
    assert [e.action for e in events[4:7]] == ["baseline"] * 3
    # The old-timer's account, as it stood, is the rights the log knows from the start.
    assert (events[7].action, events[7].details["source"]) == ("right_recorded", "held at upgrade")
    assert events[7].details["row"] == {"is_active": True, "is_staff": False, "is_superuser": False}
    assert {e.key_id for e in events} == {"dev"}
    assert events[0].actor_name == "old-timer"
    assert ChainHead.objects.get().seq == 8
    report = audit_chain_verify()
    assert report.ok, report


def test_a_broken_old_chain_is_not_sealed(old_log):
    apps, first, _second, _service = old_log
    Event = apps.get_model("audit", "AuditEvent")
    Event.objects.filter(request_id=first.pk, seq=1).update(comment="edited by hand")
    with pytest.raises(one_log.ChainBroken, match=f"request #{first.pk}"):
        migrate()
    # Leave the database migrated, as the tests after this one expect it.
    Event.objects.all().delete()
    for model in ("service_requests.ServiceRequest", "endpoint_services.EndpointService"):
        apps.get_model(model).objects.update(audit_event_count=0, audit_last_hash="")
    migrate()


def test_back_to_per_subject_chains(old_log):
    migrate()
    apps = migrate(BEFORE)
    Event = apps.get_model("audit", "AuditEvent")
    Request = apps.get_model("service_requests", "ServiceRequest")
    Service = apps.get_model("endpoint_services", "EndpointService")
    assert not Event.objects.filter(action="baseline").exists()
    one_log._verify_legacy(
        Event.objects.filter(request__isnull=False).order_by("request_id", "seq"),
        Request.objects.values_list("pk", "audit_event_count", "audit_last_hash"),
        "request_id",
        "request",
    )
    one_log._verify_legacy(
        Event.objects.filter(request__isnull=True).order_by("service_id", "seq"),
        Service.objects.values_list("pk", "audit_event_count", "audit_last_hash"),
        "service_id",
        "service",
    )
    migrate()
    assert audit_chain_verify().ok
