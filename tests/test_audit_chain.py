"""The hash chain: each way of tampering is detected at the right event."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from portal.audit.models import AuditEvent, ChainCheck
from portal.audit.services import audit_chain_verify
from portal.service_requests.models import State
from tests.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(requester, approver):
    """Two requests with a few events each, written the way the portal writes them."""
    first = ServiceRequestFactory(requester=requester)
    first.record("created", actor=requester)
    first.move("submit", actor=requester, details={"dry_run": "DryRunOperation"})
    first.move("approve", actor=approver, comment="fine")
    first.move("start_provisioning", actor=None)
    first.record(
        "cloud_call", actor=None, details={"cloud_call": {"action": "Create", "request_id": "R1"}}
    )
    second = ServiceRequestFactory(requester=requester)
    second.record("created", actor=requester)
    second.move("cancel", actor=requester)
    return first, second


def events_of(request):
    return list(AuditEvent.objects.filter(request=request).order_by("seq"))


def sql(statement, params=()):
    """Tamper as someone with database access would: around the ORM's refusals."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_chain_is_intact_after_normal_work(history):
    report = audit_chain_verify()
    assert report.ok, report
    assert report.events_checked == 7
    assert [e.seq for e in events_of(history[0])] == [1, 2, 3, 4, 5]
    assert events_of(history[0])[1].prev_hash == events_of(history[0])[0].hash


def test_verify_command_succeeds_and_records_the_check(history, capsys):
    call_command("verify_audit_chain")
    assert "audit chain intact: 2 requests, 7 events" in capsys.readouterr().out
    assert ChainCheck.objects.get().ok


def test_edited_event_is_named(history):
    target = events_of(history[0])[2]
    sql("UPDATE audit_auditevent SET comment = %s WHERE id = %s", ["rubber stamp", target.pk])
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_event == target.pk
    assert "was edited" in report.message
    with pytest.raises(CommandError, match=f"event #{target.pk}"):
        call_command("verify_audit_chain")
    assert not ChainCheck.objects.get().ok


def test_edited_details_are_detected(history):
    target = events_of(history[0])[4]
    sql(
        "UPDATE audit_auditevent SET details = %s WHERE id = %s",
        ['{"cloud_call": {"action": "Create", "request_id": "FORGED"}}', target.pk],
    )
    assert audit_chain_verify().broken_event == target.pk


def test_deleted_event_is_found_at_the_next_one(history):
    events = events_of(history[0])
    sql("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert report.broken_event == events[2].pk
    assert "deleted or reordered" in report.message


def test_deleted_newest_event_is_found_by_the_head(history):
    events = events_of(history[0])
    sql("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    report = audit_chain_verify()
    assert report.broken_request == history[0].pk
    assert report.broken_event == events[-2].pk
    assert "were removed" in report.message


def test_all_events_of_a_request_deleted(history):
    sql("DELETE FROM audit_auditevent WHERE request_id = %s", [history[1].pk])
    report = audit_chain_verify()
    assert report.broken_request == history[1].pk
    assert "all 2 events" in report.message


def test_reordered_events_are_detected(history):
    events = events_of(history[0])
    sql("UPDATE audit_auditevent SET seq = 99 WHERE id = %s", [events[1].pk])
    sql("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [events[2].pk])
    sql("UPDATE audit_auditevent SET seq = 3 WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert report.broken_event == events[2].pk


def test_inserted_event_is_detected(history, approver):
    events = events_of(history[0])
    sql(
        "UPDATE audit_auditevent SET seq = seq + 100 WHERE request_id = %s AND seq >= 3",
        [history[0].pk],
    )
    sql(
        "UPDATE audit_auditevent SET seq = seq - 99 WHERE request_id = %s AND seq >= 100",
        [history[0].pk],
    )
    sql(
        "INSERT INTO audit_auditevent (request_id, seq, actor_id, action, from_state, to_state,"
        " comment, details, created_at, prev_hash, hash) VALUES (%s, 3, %s, 'approve',"
        " 'pending_approval', 'approved', 'backdated', '{}', %s, %s, %s)",
        [history[0].pk, approver.pk, events[2].created_at, events[1].hash, "f" * 64],
    )
    report = audit_chain_verify()
    assert not report.ok
    forged = AuditEvent.objects.get(request=history[0], seq=3)
    assert report.broken_event == forged.pk


def test_appended_event_without_the_head_is_detected(history):
    events = events_of(history[1])
    sql(
        "INSERT INTO audit_auditevent (request_id, seq, actor_id, action, from_state, to_state,"
        " comment, details, created_at, prev_hash, hash) VALUES (%s, 3, NULL, 'note', 'cancelled',"
        " 'cancelled', '', '{}', %s, %s, %s)",
        [history[1].pk, events[-1].created_at, events[-1].hash, "e" * 64],
    )
    report = audit_chain_verify()
    assert report.broken_request == history[1].pk


def test_request_state_edited_by_hand_is_detected(history):
    sql(
        "UPDATE service_requests_servicerequest SET state = %s WHERE id = %s",
        [State.ACTIVE, history[1].pk],
    )
    report = audit_chain_verify()
    assert report.broken_request == history[1].pk
    assert "'active'" in report.message


def test_generated_history_verifies(db, capsys):
    call_command("generate_history", requests=300, batch=120)
    report = audit_chain_verify()
    assert report.ok, report
    assert report.requests_checked == 300
    assert report.events_checked > 1500
    actions = set(AuditEvent.objects.values_list("action", flat=True).distinct())
    assert {
        "created",
        "dry_run",
        "submit",
        "approve",
        "reject",
        "send_back",
        "cancel",
        "start_provisioning",
        "cloud_call",
        "mark_creating",
        "mark_active",
        "fail",
    } <= actions


@pytest.fixture
def service_history(requester):
    from portal.endpoint_services.models import EndpointService

    service = EndpointService.objects.create(
        service_id="epsrv-chained00000000000", region_id="cn-hangzhou", owner=requester
    )
    service.record("created", actor=None)
    service.record("drift_detected", actor=None, details={"differences": ["- tag team"]})
    service.record("drift_accepted", actor=requester)
    return service


def test_service_chains_are_verified_too(history, service_history):
    report = audit_chain_verify()
    assert report.ok, report
    assert (report.requests_checked, report.services_checked, report.events_checked) == (2, 1, 10)
    assert "2 requests, 1 services, 10 events" in str(report)


def test_an_edited_service_event_is_named_with_its_service(history, service_history):
    target = AuditEvent.objects.filter(service=service_history).order_by("seq")[1]
    sql(
        "UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"differences": []}', target.pk]
    )
    report = audit_chain_verify()
    assert not report.ok
    assert (report.broken_event, report.broken_service) == (target.pk, service_history.pk)
    assert f"service #{service_history.pk}" in str(report)


def test_a_truncated_service_chain_is_caught(history, service_history):
    newest = AuditEvent.objects.filter(service=service_history).order_by("-seq").first()
    sql("DELETE FROM audit_auditevent WHERE id = %s", [newest.pk])
    report = audit_chain_verify()
    assert not report.ok
    assert "were removed" in report.message
