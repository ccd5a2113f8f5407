"""The one audit log: every way of tampering with it, or with what it explains, is caught.

Tampering is done as someone with database access would: in SQL, around the ORM's refusals.
The same scenarios run on PostgreSQL under `make test-services` (test_audit_postgres.py).
"""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from portal.approvals import services as approval_services
from portal.audit import chain
from portal.audit.actions import Action
from portal.audit.models import AppendOnlyError, AuditEvent, ChainCheck, ChainHead
from portal.audit.services import audit_chain_verify, audit_checkpoint_write
from portal.endpoint_services.models import EndpointService
from portal.lib.digests import content_digest
from portal.requests import services
from portal.service_requests.models import TRANSITIONS, Approval, State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def checkpoints(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    return tmp_path / "checkpoints.jsonl"


@pytest.fixture
def history(requester, approver, approver2, simulator):
    """Two requests and a service, written the way the portal writes them."""
    first = ServiceRequestFactory(requester=requester, auto_accept_enabled=True)
    services.service_request_submit(service_request=first, actor=requester)
    first.refresh_from_db()
    for user in (approver, approver2):
        approval_services.service_request_decide(
            pk=first.pk, approver=user, decision="approve", revision=first.revision
        )
    service = EndpointService.objects.create(
        service_id="epsrv-chained00000000000", region_id="cn-hangzhou", owner=requester
    )
    service.record("created", actor=None, details={"record": service.stewardship()})
    service.record("drift_detected", actor=None, details={"differences": ["- tag team"]})
    second = ServiceRequestFactory(requester=requester)
    services.service_request_cancel(pk=second.pk, actor=requester)  # the newest event
    first.refresh_from_db()
    second.refresh_from_db()
    return first, second, service


def events():
    return list(AuditEvent.objects.order_by("seq"))


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def broken(**expected):
    report = audit_chain_verify()
    assert not report.ok, report
    for name, value in expected.items():
        assert getattr(report, name) == value, report
    return report


def test_the_log_is_intact_after_normal_work(history):
    report = audit_chain_verify()
    assert report.ok, report
    assert report.events_checked == AuditEvent.objects.count()
    assert (report.requests_checked, report.services_checked) == (2, 1)
    seqs = [e.seq for e in events()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(e.key_id == "dev" for e in events())
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (seqs[-1], events()[-1].hash)


def test_verify_command_succeeds_and_records_the_check(history, capsys):
    call_command("verify_audit_chain")
    assert "audit chain intact" in capsys.readouterr().out
    assert ChainCheck.objects.get().ok


def test_the_hash_is_keyed(history, settings):
    """Someone without the key cannot recompute a hash: the same log under another key fails."""
    settings.AUDIT_HMAC_KEYS = ["dev:" + "another-secret-entirely-" * 3]
    broken(broken_event=1)


def test_an_old_key_still_verifies_what_it_sealed(history, settings, requester):
    old = settings.AUDIT_HMAC_KEYS[0]
    settings.AUDIT_HMAC_KEYS = ["k2:" + "the-rotated-key-for-new-events-" * 2, old]
    history[1].record("note", actor=requester)
    assert events()[-1].key_id == "k2"
    assert audit_chain_verify().ok
    settings.AUDIT_HMAC_KEYS = [settings.AUDIT_HMAC_KEYS[0]]
    broken(broken_event=1, message="#1 names a key the portal does not hold")


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_an_edited_event_is_named_wherever_it_is(history, position):
    log = events()
    target = {"first": log[0], "middle": log[len(log) // 2], "last": log[-1]}[position]
    sql("UPDATE audit_auditevent SET comment = %s WHERE id = %s", ["rubber stamp", target.pk])
    report = broken(broken_event=target.seq)
    assert "was edited" in report.message


def test_edited_details_are_caught(history):
    target = AuditEvent.objects.filter(action="submit").get()
    forged = {**target.details, "digest": "0" * 64}
    sql("UPDATE audit_auditevent SET details = %s WHERE id = %s", [json.dumps(forged), target.pk])
    broken(broken_event=target.seq)


@pytest.mark.parametrize("position", ["first", "middle"])
def test_a_deleted_event_is_found_at_the_gap(history, position):
    log = events()
    target = log[0] if position == "first" else log[len(log) // 2]
    sql("DELETE FROM audit_auditevent WHERE id = %s", [target.pk])
    report = broken(broken_event=target.seq)
    assert "deleted" in report.message


def test_deleting_the_newest_event_and_rewinding_the_head_is_caught(history):
    """The review's first finding: delete the last event, point the head at the one before.

    The chain then ends cleanly; the row the event explained does not (and an event that
    explained no row is caught by the checkpoints, below)."""
    log = events()
    sql("DELETE FROM audit_auditevent WHERE id = %s", [log[-1].pk])
    sql(
        "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1",
        [log[-2].seq, log[-2].hash],
    )
    report = broken(broken_request=history[1].pk)
    assert "'cancelled'" in report.message


def test_truncation_behind_a_checkpoint_is_caught(history):
    audit_checkpoint_write()
    log = events()
    sql("DELETE FROM audit_auditevent WHERE id = %s", [log[-1].pk])
    sql(
        "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1",
        [log[-2].seq, log[-2].hash],
    )
    report = broken()
    assert f"saw #{log[-1].seq}" in report.message


def test_deleting_the_newest_event_without_the_head_is_caught(history):
    log = events()
    sql("DELETE FROM audit_auditevent WHERE id = %s", [log[-1].pk])
    report = broken()
    assert f"the head says #{log[-1].seq}" in report.message


def test_reordered_events_are_caught(history):
    log = events()
    a, b = log[2], log[3]
    sql("UPDATE audit_auditevent SET seq = -1 WHERE id = %s", [a.pk])
    sql("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [a.seq, b.pk])
    sql("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [b.seq, a.pk])
    broken(broken_event=a.seq)


def test_an_inserted_event_is_caught(history, approver):
    log = events()
    at = log[3]
    sql("UPDATE audit_auditevent SET seq = seq + 1000 WHERE seq >= %s", [at.seq])
    sql("UPDATE audit_auditevent SET seq = seq - 999 WHERE seq >= 1000")
    sql(
        "INSERT INTO audit_auditevent (seq, request_id, actor_id, actor_name, action, from_state,"
        " to_state, comment, details, created_at, key_id, prev_hash, hash) VALUES (%s, %s, %s,"
        " 'approver', 'approve', 'pending_approval', 'approved', 'backdated', '{}', %s, 'dev',"
        " %s, %s)",
        [at.seq, history[0].pk, approver.pk, at.created_at, log[2].hash, "f" * 64],
    )
    broken(broken_event=at.seq)


def test_an_event_appended_outside_the_portal_is_caught(history):
    log = events()
    sql(
        "INSERT INTO audit_auditevent (seq, request_id, actor_name, action, from_state, to_state,"
        " comment, details, created_at, key_id, prev_hash, hash) VALUES (%s, %s, '', 'note',"
        " 'cancelled', 'cancelled', '', '{}', %s, 'dev', %s, %s)",
        [log[-1].seq + 1, history[1].pk, log[-1].created_at, log[-1].hash, "e" * 64],
    )
    broken(broken_event=log[-1].seq + 1)


def test_a_consistent_rewrite_with_the_key_is_caught_by_the_checkpoints(history):
    """Someone with the database and the key rewrites an event and re-seals everything after
    it: the chain verifies, the checkpoint shipped off the database does not."""
    audit_checkpoint_write()
    log = events()
    target = log[1]
    prev = log[0].hash
    secrets = chain.keys()
    for event in log[1:]:
        comment = "rewritten" if event.pk == target.pk else event.comment
        event.comment, event.prev_hash = comment, prev
        event.hash = prev = chain.seal(prev, chain.event_content(event), event.key_id, secrets)
        sql(
            "UPDATE audit_auditevent SET comment = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.comment, event.prev_hash, event.hash, event.pk],
        )
    sql("UPDATE audit_chainhead SET hash = %s WHERE id = 1", [prev])
    report = broken(broken_event=log[-1].seq)
    assert "differs from the checkpoint" in report.message


def test_an_edited_checkpoint_file_is_caught(history, checkpoints):
    audit_checkpoint_write()
    line = json.loads(checkpoints.read_text())
    line["seq"] -= 1
    checkpoints.write_text(json.dumps(line) + "\n")
    report = broken()
    assert "checkpoint line 1 was edited" in report.message


def test_checkpoints_are_appended_only_when_the_head_moves(history, checkpoints, requester):
    assert audit_checkpoint_write()["seq"] == events()[-1].seq
    assert audit_checkpoint_write() is None
    history[1].record("note", actor=requester)
    call_command("audit_checkpoint")
    lines = checkpoints.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [events()[-2].seq, events()[-1].seq]
    report = audit_chain_verify()
    assert report.ok and report.checkpoints_checked == 2


def test_a_long_checkpoint_file_is_not_reread_to_append(history, checkpoints):
    """Appending reads only the file's tail: a year of minute lines (500,000) stays cheap."""
    first = audit_checkpoint_write()
    filler = "x" * 200 + "\n"
    checkpoints.write_text(filler * 1000 + json.dumps(first) + "\n")  # 200 kB before it
    assert audit_checkpoint_write() is None  # found the head in the tail, not in the filler
    report = audit_chain_verify()
    assert not report.ok and "checkpoint line 1 is not one the portal wrote" in report.message


def test_a_checkpoint_ahead_of_the_log_names_the_newest(history, checkpoints, requester):
    history[1].record("note", actor=requester)
    audit_checkpoint_write()
    history[1].record("note", actor=requester)
    newest = audit_checkpoint_write()
    newest_seq = newest["seq"]
    sql("DELETE FROM audit_auditevent WHERE seq >= %s", [newest_seq - 1])
    sql("UPDATE audit_chainhead SET seq = %s, hash = %s", [events()[-1].seq, events()[-1].hash])
    report = audit_chain_verify()
    assert not report.ok
    assert f"saw #{newest_seq}" in report.message


def test_a_missing_checkpoint_file_is_a_finding_in_production(history, checkpoints, settings):
    settings.AUDIT_CHECKPOINTS_REQUIRED = True
    assert audit_chain_verify().ok  # a log younger than ten checkpoint periods: not yet
    settings.AUDIT_CHECKPOINT_EVERY = 0  # ten periods have passed
    report = audit_chain_verify()
    assert not report.ok and "there is no checkpoint file at" in report.message
    audit_checkpoint_write()
    assert audit_chain_verify().ok


def test_a_checkpoint_file_cut_short_is_a_finding_in_production(
    history, checkpoints, settings, requester
):
    settings.AUDIT_CHECKPOINTS_REQUIRED = True
    audit_checkpoint_write()
    history[1].record("note", actor=requester)
    audit_checkpoint_write()
    assert audit_chain_verify().ok
    first_line = checkpoints.read_text().splitlines()[0]
    checkpoints.write_text(first_line + "\n")  # the newest line cut off
    assert audit_chain_verify().ok  # within the grace: beat may not have written it yet
    settings.AUDIT_CHECKPOINT_EVERY = 0
    report = audit_chain_verify()
    assert not report.ok and "the checkpoint file was cut short" in report.message
    checkpoints.write_text("")  # emptied
    report = audit_chain_verify()
    assert not report.ok and "the newest checkpoint is of #0" in report.message


# --- rows the events must explain ---------------------------------------------------------


def test_a_request_whose_events_were_all_deleted_is_named(history):
    """Deleting a request's events (and closing the gaps) still leaves its row unexplained."""
    second = history[1]
    sql("DELETE FROM audit_auditevent WHERE request_id = %s", [second.pk])
    # Re-seal the remaining log, as someone holding the key would.
    prev, secrets = chain.GENESIS, chain.keys()
    for seq, event in enumerate(events(), start=1):
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = chain.seal(prev, chain.event_content(event), event.key_id, secrets)
        sql(
            "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [-seq, event.prev_hash, event.hash, event.pk],
        )
    sql("UPDATE audit_auditevent SET seq = -seq")
    sql("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1", [seq, prev])
    report = broken(broken_request=second.pk)
    assert "has no events" in report.message


@pytest.mark.parametrize("which", [0, 1])
def test_a_whole_request_deleted_is_caught(history, which):
    """Its events, approvals, resources, tags and row all gone: the log has a gap where its
    events were (the first request's are in the middle, the second's at the end)."""
    gone = history[which]
    seqs = list(gone.events.order_by("seq").values_list("seq", flat=True))
    for table in ("audit_auditevent", "service_requests_approval"):
        sql(f"DELETE FROM {table} WHERE request_id = %s", [gone.pk])
    for table in ("resource", "tag", "operation"):
        sql(f"DELETE FROM service_requests_request{table} WHERE request_id = %s", [gone.pk])
    sql("DELETE FROM service_requests_servicerequest WHERE id = %s", [gone.pk])
    report = broken()
    if which == 0:
        assert report.broken_event == seqs[0] and "events were deleted" in report.message
    else:
        assert "the newest events were removed" in report.message


def test_a_request_row_deleted_under_its_events_is_named(history):
    """The log keeps no foreign key to what it is about: only verification stops a request's
    row (with its parts) from disappearing while its events stay."""
    gone = history[0]
    for table in ("service_requests_approval",):
        sql(f"DELETE FROM {table} WHERE request_id = %s", [gone.pk])
    for table in ("resource", "tag", "operation"):
        sql(f"DELETE FROM service_requests_request{table} WHERE request_id = %s", [gone.pk])
    sql("DELETE FROM service_requests_servicerequest WHERE id = %s", [gone.pk])
    first = gone.events.order_by("seq").values_list("seq", flat=True).first()

    report = broken(broken_request=gone.pk)
    assert report.broken_event == first
    assert f"the events name request #{gone.pk}, which no longer exists" in report.message


def test_a_service_row_deleted_under_its_events_is_named(history):
    service = EndpointService.objects.get(service_id="epsrv-chained00000000000")
    first = service.events.order_by("seq").values_list("seq", flat=True).first()
    sql("DELETE FROM endpoint_services_endpointservice WHERE id = %s", [service.pk])

    report = broken(broken_service=service.pk, broken_event=first)
    assert f"the events name service #{service.pk}, which no longer exists" in report.message


def test_a_request_inserted_with_no_events_is_named(history, requester):
    """The review's worst finding: an `approved` row written straight into the table."""
    forged = ServiceRequestFactory(requester=requester, state=State.APPROVED, history=False)
    broken(broken_request=forged.pk)


def test_a_request_state_edited_by_hand_is_named(history):
    second = history[1]
    sql(
        "UPDATE service_requests_servicerequest SET state = %s WHERE id = %s",
        [State.APPROVED, second.pk],
    )
    report = broken(broken_request=second.pk)
    assert "'approved'" in report.message


TAMPERING = {
    "region": "UPDATE service_requests_servicerequest SET region_id = 'cn-shanghai' WHERE id = %s",
    "auto-accept off (two approvals become one)": (
        "UPDATE service_requests_servicerequest SET auto_accept_enabled = FALSE WHERE id = %s"
    ),
    "justification": (
        "UPDATE service_requests_servicerequest SET justification = 'later' WHERE id = %s"
    ),
    "resource": (
        "UPDATE service_requests_requestresource SET resource_id = 'nlb-hzpool000999'"
        " WHERE request_id = %s"
    ),
    "tag added": (
        "INSERT INTO service_requests_requesttag (request_id, position, key, value)"
        " VALUES (%s, 0, 'team', 'x')"
    ),
}


@pytest.mark.parametrize("statement", TAMPERING.values(), ids=TAMPERING.keys())
def test_a_request_edited_after_approval_is_named(history, statement):
    first = history[0]
    sql(statement, [first.pk])
    report = broken(broken_request=first.pk)
    assert "recorded" in report.message


def test_a_request_given_to_someone_else_is_named(history, approver):
    """The admin once set `requester` to themselves, and could then approve their own."""
    first = history[0]
    sql(
        "UPDATE service_requests_servicerequest SET requester_id = %s WHERE id = %s",
        [approver.pk, first.pk],
    )
    broken(broken_request=first.pk)


def test_a_forged_approval_row_is_named(history, approver):
    second = history[1]
    Approval.objects.create(
        request=second, approver=approver, revision=second.revision, decision="approve"
    )
    report = broken(broken_request=second.pk)
    assert "has no event behind it" in report.message


def test_a_state_moved_by_hand_then_written_over_by_the_portal_is_named(history):
    """A row moved by hand, and an event the portal then wrote about it in good faith (as
    the reconciler once did): the event is sealed, but the life it tells is not lawful."""
    second = history[1]  # cancelled
    sql(
        "UPDATE service_requests_servicerequest SET state = 'creating' WHERE id = %s",
        [second.pk],
    )
    second.refresh_from_db()
    event = second.record("reconciled", actor=None)
    report = broken(broken_request=second.pk, broken_event=event.seq)
    assert "starts from 'creating', but the event before left the request 'cancelled'" in (
        report.message
    )


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DELETE FROM service_requests_approval WHERE id = %s", "it was deleted"),
        (
            "UPDATE service_requests_approval SET comment = 'fine by me' WHERE id = %s",
            "has no event behind it, or was edited",
        ),
    ],
)
def test_an_approval_deleted_or_edited_is_named(history, statement, message):
    first = history[0]
    sql(statement, [first.approvals.order_by("id").first().pk])
    report = broken(broken_request=first.pk)
    assert message in report.message


def test_a_request_pointed_at_another_service_is_named(history, requester):
    change = ServiceRequestFactory(
        requester=requester,
        kind="change",
        endpoint_service=history[2],
        service_id=history[2].service_id,
        state=State.PENDING_APPROVAL,
    )
    assert audit_chain_verify().ok
    other = EndpointService.objects.create(
        service_id="epsrv-other0000000000000", region_id="cn-hangzhou", owner=requester
    )
    other.record("created", actor=None, details={"record": other.stewardship()})
    sql(
        "UPDATE service_requests_servicerequest SET endpoint_service_id = %s WHERE id = %s",
        [other.pk, change.pk],
    )
    report = broken(broken_request=change.pk)
    assert "is linked to 'epsrv-other0000000000000'" in report.message


@pytest.mark.parametrize(
    ("column", "value"), [("service_id", "epsrv-swapped00000000000"), ("region_id", "cn-beijing")]
)
def test_a_service_whose_identity_was_changed_by_hand_is_named(history, column, value):
    service = history[2]
    sql(
        f"UPDATE endpoint_services_endpointservice SET {column} = %s WHERE id = %s",
        [value, service.pk],
    )
    report = broken(broken_service=service.pk)
    assert "differs from what its events recorded" in report.message


def test_a_service_whose_owner_was_changed_by_hand_is_named(history, requester2):
    service = history[2]
    sql(
        "UPDATE endpoint_services_endpointservice SET owner_id = %s WHERE id = %s",
        [requester2.pk, service.pk],
    )
    report = broken(broken_service=service.pk)
    assert "owner" in report.message


def test_a_service_whose_approved_configuration_was_edited_is_named(history):
    service = history[2]
    forged = {"service_description": "whatever I like"}
    sql(
        "UPDATE endpoint_services_endpointservice SET approved = %s WHERE id = %s",
        [json.dumps(forged), service.pk],
    )
    broken(broken_service=service.pk)


def test_a_service_inserted_by_hand_is_named(history, requester):
    forged = EndpointService.objects.create(
        service_id="epsrv-forged000000000000", region_id="cn-hangzhou", owner=requester
    )
    report = broken(broken_service=forged.pk)
    assert "never made it" in report.message


def test_events_record_content_approvals_and_actor(history, approver):
    first = history[0]
    submit = AuditEvent.objects.get(request_id=first.pk, action="submit")
    assert submit.details["content"]["auto_accept_enabled"] is True
    assert submit.details["digest"] == content_digest(first.content())
    decision = AuditEvent.objects.filter(request_id=first.pk, actor=approver).get()
    assert decision.actor_name == "approver"
    assert decision.details["approval"] == {
        "approver": approver.pk,
        "revision": first.revision,
        "digest": first.digest(),
        "decision": "approve",
        "comment": "",
    }


def test_generated_history_verifies(db):
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


def test_a_failed_verification_says_where(history):
    target = events()[2]
    sql("UPDATE audit_auditevent SET comment = 'x' WHERE id = %s", [target.pk])
    with pytest.raises(CommandError, match=f"event #{target.seq}"):
        call_command("verify_audit_chain")
    assert not ChainCheck.objects.get().ok


def test_admins_hear_of_a_break_once(history, settings, mailoutbox):
    settings.ADMINS = [("Security", "security@example.com")]
    sql("UPDATE audit_auditevent SET comment = 'x' WHERE seq = 3")
    for _ in range(2):
        with pytest.raises(CommandError):
            call_command("verify_audit_chain")
    assert [m.to for m in mailoutbox] == [["security@example.com"]]
    assert "event #3" in mailoutbox[0].body


def test_audit_events_are_append_only(history):
    event = events()[0]
    event.comment = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(comment="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_an_action_the_log_does_not_know_is_refused_and_writes_nothing(requester):
    before = AuditEvent.objects.count()  # the requester's making is recorded
    with pytest.raises(ValueError):
        chain.append(action="approvd", actor=requester)

    assert AuditEvent.objects.count() == before
    assert ChainHead.objects.get(pk=ChainHead.ONLY).seq == before


def test_every_action_is_stored_as_its_plain_name(requester):
    event = chain.append(action=Action.ROLES_CHANGED, actor=requester)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "roles_changed" and type(stored.action) is str
    assert stored.get_action_display() == "Roles changed"


def test_every_lifecycle_transition_is_an_action_of_the_log():
    names = {name for transitions in TRANSITIONS.values() for name in transitions}

    assert names <= set(Action.values)
