"""The history's PostgreSQL-only paths: the count estimate and the trigram text search."""

import threading

import pytest
from django.db import connection

from portal.history import views as audit_views
from tests.audit import test_subject_migration
from tests.support.factories import ServiceRequestFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_large_counts_show_the_planners_estimate(login, auditor, requester, monkeypatch):
    monkeypatch.setattr(audit_views, "COUNT_LIMIT", 2)
    ServiceRequestFactory.create_batch(5, requester=requester)
    response = login(auditor).get("/audit/")
    assert response.context["estimate"] >= 3
    assert "About" in response.content.decode()


def test_text_search_has_trigram_indexes(login, auditor, requester):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'request_%_trgm' "
            "ORDER BY indexname"
        )
        names = [row[0] for row in cursor.fetchall()]
    assert names == ["request_description_trgm", "request_justification_trgm"]
    match = ServiceRequestFactory(requester=requester, justification="for the Ledger team")
    ServiceRequestFactory(requester=requester, justification="other")
    response = login(auditor).get("/audit/", {"q": "ledger"})
    assert [row.pk for row in response.context["rows"]] == [match.pk]


# Every tampering scenario of the audit log, again on PostgreSQL.
from tests.audit.test_chain import (  # noqa: E402, F401
    checkpoints,
    history,
    test_a_consistent_rewrite_with_the_key_is_caught_by_the_checkpoints,
    test_a_deleted_event_is_found_at_the_gap,
    test_a_forged_approval_row_is_named,
    test_a_request_edited_after_approval_is_named,
    test_a_request_given_to_someone_else_is_named,
    test_a_request_inserted_with_no_events_is_named,
    test_a_request_state_edited_by_hand_is_named,
    test_a_request_whose_events_were_all_deleted_is_named,
    test_a_service_inserted_by_hand_is_named,
    test_a_service_whose_approved_configuration_was_edited_is_named,
    test_a_service_whose_owner_was_changed_by_hand_is_named,
    test_an_edited_event_is_named_wherever_it_is,
    test_an_event_appended_outside_the_portal_is_caught,
    test_an_inserted_event_is_caught,
    test_deleting_the_newest_event_and_rewinding_the_head_is_caught,
    test_deleting_the_newest_event_without_the_head_is_caught,
    test_edited_details_are_caught,
    test_reordered_events_are_caught,
    test_the_log_is_intact_after_normal_work,
    test_truncation_behind_a_checkpoint_is_caught,
)


# The log's subjects by id: PostgreSQL drops the foreign keys' constraints, and makes them again
# on the way back, where SQLite rebuilds the table.
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_logs_subjects_by_id_migrate_forward_and_back(requester):
    test_subject_migration.test_events_written_before_keep_their_subjects_and_verify(requester)


# PostgreSQL refuses what SQLite takes: a NUL in text, a value longer than its column.
# Rights written into the database behind the portal's back, by raw SQL on PostgreSQL: named by
# verification, refused by the worker and the API.
from tests.audit.test_grants import (  # noqa: E402, F401
    test_a_right_written_in_the_database_is_named,
    test_deleting_an_account_records_the_end_of_its_roles,
)
from tests.project.test_hardening import (  # noqa: E402, F401
    test_a_huge_username_is_a_failed_login_not_a_500,
    test_a_nul_in_a_url_is_a_400,
)
from tests.provisioning.test_entitlement import (  # noqa: E402, F401
    mallory,
    test_a_token_written_into_the_database_is_refused_at_once,
    test_an_approval_by_someone_made_an_approver_in_the_database_is_not_provisioned,
    test_an_approval_through_a_delegation_written_in_the_database_is_not_provisioned,
)


def test_database_is_postgresql():
    assert connection.vendor == "postgresql"


# --- verification in one snapshot, with its reader thread (outside any test transaction) ---


@pytest.fixture
def committed_history(transactional_db, requester, approver, settings, tmp_path):
    from portal.audit.services import audit_checkpoint_write

    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    made = ServiceRequestFactory.create_batch(30, requester=requester, state="active")
    audit_checkpoint_write()
    return made


def test_the_snapshot_path_verifies_and_reads_in_a_second_thread(committed_history, monkeypatch):
    from portal.audit import services as audit

    readers = []
    original = audit._in_snapshot

    def spy(snapshot, function):
        readers.append(snapshot)
        return original(snapshot, function)

    monkeypatch.setattr(audit, "_in_snapshot", spy)
    monkeypatch.setattr(audit, "READ_CHUNK", 7)  # several chunks through the queue
    report = audit.audit_chain_verify()
    assert report.ok, report
    assert report.checkpoints_checked == 1 and report.requests_checked == 30
    assert readers and readers[0]  # the events came through the exported snapshot


def test_the_snapshot_path_names_an_edited_event(committed_history):
    from portal.audit.models import AuditEvent
    from portal.audit.services import audit_chain_verify

    target = AuditEvent.objects.order_by("seq")[40]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET details = jsonb_set(details, '{x}', '1') WHERE id = %s",
            [target.pk],
        )
    report = audit_chain_verify()
    assert not report.ok and report.broken_event == target.seq
    assert "was edited" in report.message


def test_events_written_while_verifying_are_not_mistaken_for_tampering(
    committed_history, requester, monkeypatch
):
    """The portal goes on writing during the walk; what verification reads is one moment."""
    from portal.audit import services as audit

    original = audit._checkpoints
    request = committed_history[0]

    def write(request_pk):
        from django.db import connection as own

        from portal.service_requests.models import ServiceRequest

        try:  # another connection, committed at once: the portal at work
            ServiceRequest.objects.get(pk=request_pk).record("note", actor=requester)
        finally:
            own.close()

    def write_meanwhile(path):
        writer = threading.Thread(target=write, args=[request.pk])
        writer.start()
        writer.join()
        yield from original(path)

    monkeypatch.setattr(audit, "_checkpoints", write_meanwhile)
    report = audit.audit_chain_verify()
    assert report.ok, report
    assert request.events.filter(action="note").exists()  # it was written, and is next time's
    assert audit.audit_chain_verify().ok
