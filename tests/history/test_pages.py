"""The auditors' history: filters, pagination, timeline, exports, and nothing to change."""

import csv
import io
import json
import re
import tracemalloc
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from portal.history import exports
from portal.history import views as audit_views
from portal.service_requests.models import Approval, ServiceRequest, State
from tests.project.test_access_matrix import project_patterns
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def ids_in(response):
    return [row.pk for row in response.context["rows"]]


@pytest.fixture
def population(requester, requester2, approver, approver2):
    now = timezone.now()
    made = {
        "old_failed": ServiceRequestFactory(
            requester=requester,
            state=State.FAILED,
            region_id="cn-hangzhou",
            service_description="Legacy ledger",
            decided_at=now - timedelta(days=3),
            history__approvers=[approver2],
        ),
        "failed_sh": ServiceRequestFactory(
            requester=requester2,
            state=State.FAILED,
            region_id="cn-shanghai",
            justification="needed for the search cluster",
            decided_at=now,
            history__approvers=[approver2],
        ),
        "active": ServiceRequestFactory(
            requester=requester,
            state=State.ACTIVE,
            region_id="cn-hangzhou",
            service_id="epsrv-aaaaaaaaaaaaaaaaaaaa",
            service_name="com.aliyuncs.privatelink.cn-hangzhou.epsrv-aaaaaaaaaaaaaaaaaaaa",
            decided_at=now,
            resources=[
                {"resource_type": "nlb", "resource_id": "nlb-special", "zone_id": "cn-hangzhou-h"}
            ],
            history__approvers=[approver],
        ),
        "draft": ServiceRequestFactory(requester=requester2, state=State.DRAFT),
    }
    ServiceRequest.objects.filter(pk=made["old_failed"].pk).update(
        created_at=now - timedelta(days=3)
    )
    return made


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["draft", "active", "failed_sh", "old_failed"]),
        ({"state": "failed"}, ["failed_sh", "old_failed"]),
        ({"state": ["failed", "draft"]}, ["draft", "failed_sh", "old_failed"]),
        ({"region_id": "cn-shanghai"}, ["failed_sh"]),
        ({"requester": "requester2"}, ["draft", "failed_sh"]),
        ({"approver": "approver"}, ["active"]),
        ({"service": "epsrv-aaaaaaaaaaaaaaaaaaaa"}, ["active"]),
        (
            {"service": "com.aliyuncs.privatelink.cn-hangzhou.epsrv-aaaaaaaaaaaaaaaaaaaa"},
            ["active"],
        ),
        ({"resource_id": "nlb-special"}, ["active"]),
        ({"q": "LEDGER"}, ["old_failed"]),
        ({"q": "search cluster"}, ["failed_sh"]),
        ({"state": "failed", "region_id": "cn-hangzhou"}, ["old_failed"]),
        ({"state": "failed", "requester": "requester"}, ["old_failed"]),
        ({"ordering": "created"}, ["old_failed", "failed_sh", "active", "draft"]),
    ],
)
def test_each_filter_alone_and_combined(login, auditor, population, params, expected):
    response = login(auditor).get("/audit/", params)
    assert response.status_code == 200
    assert ids_in(response) == [population[name].pk for name in expected]


def test_date_filters(login, auditor, population):
    today = timezone.localdate()
    client = login(auditor)
    old = client.get("/audit/", {"created_before": today - timedelta(days=1)})
    assert ids_in(old) == [population["old_failed"].pk]
    recent = client.get("/audit/", {"created_after": today})
    assert population["old_failed"].pk not in ids_in(recent)
    decided = client.get("/audit/", {"decided_after": today, "state": "failed"})
    assert ids_in(decided) == [population["failed_sh"].pk]


def test_failed_yesterday_in_two_clicks(login, auditor, requester):
    yesterday = timezone.now() - timedelta(days=1)
    target = ServiceRequestFactory(requester=requester, state=State.FAILED)
    ServiceRequest.objects.filter(pk=target.pk).update(created_at=yesterday)
    ServiceRequestFactory(requester=requester, state=State.FAILED, region_id="cn-shanghai")
    client = login(auditor)
    page = client.get("/audit/")
    quick = dict(page.context["quick_links"])["Failed yesterday"]
    first = client.get(f"/audit/?{quick}")
    region = dict(first.context["region_links"])["cn-hangzhou"]
    second = client.get(f"/audit/?{region}")
    assert ids_in(second) == [target.pk]


def test_bad_filter_input_is_reported_not_a_500(login, auditor, population):
    response = login(auditor).get("/audit/", {"created_after": "yesterday", "state": "bogus"})
    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode()


def test_pagination_edges(login, auditor, requester, monkeypatch):
    monkeypatch.setattr(audit_views, "PAGE_SIZE", 3)
    made = ServiceRequestFactory.create_batch(7, requester=requester)
    client = login(auditor)
    first = client.get("/audit/")
    assert len(ids_in(first)) == 3 and first.context["has_next"]
    assert first.context["count"] == 7
    last = client.get("/audit/", {"page": 3})
    assert ids_in(last) == [made[0].pk] and not last.context["has_next"]
    beyond = client.get("/audit/", {"page": 4})
    assert ids_in(beyond) == []
    assert client.get("/audit/", {"page": "x"}).context["page"] == 1
    assert client.get("/audit/", {"page": "-5"}).context["page"] == 1


def test_count_is_capped_not_a_full_scan(login, auditor, requester, monkeypatch):
    monkeypatch.setattr(audit_views, "COUNT_LIMIT", 4)
    ServiceRequestFactory.create_batch(6, requester=requester)
    response = login(auditor).get("/audit/")
    assert response.context["count_capped"]
    assert "More than 4" in response.content.decode()


def test_query_count_is_constant_per_page(
    login, auditor, requester, approver, django_assert_max_num_queries
):
    client = login(auditor)
    client.get("/audit/")
    for request in ServiceRequestFactory.create_batch(30, requester=requester):
        Approval.objects.create(request=request, approver=approver, revision=1, decision="approve")
    with django_assert_max_num_queries(9):
        response = client.get("/audit/")
    assert len(ids_in(response)) == 30


def test_timeline_shows_every_event_with_cloud_details(login, auditor, requester, simulator):
    from portal.provisioning import services

    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    services.service_request_provision(pk=request.pk)
    html = login(auditor).get(f"/audit/requests/{request.pk}/").content.decode()
    assert "CreateVpcEndpointService" in html
    request.refresh_from_db()
    assert request.cloud_request_id in html
    assert "provisioning → creating" in html
    assert re.search(r"CreateVpcEndpointService → ok, \d+ ms", html)
    assert "events are sealed with the portal's key and explain it as it is" in html


def test_history_shows_the_last_chain_check(login, auditor, population):
    client = login(auditor)
    assert "The first verification" in client.get("/audit/").content.decode()
    call_command("verify_audit_chain")
    assert "Audit chain intact" in client.get("/audit/").content.decode()


def test_a_fresh_install_starts_its_first_verification_once(
    login, auditor, population, monkeypatch, django_capture_on_commit_callbacks
):
    from portal.audit import tasks

    started = []
    monkeypatch.setattr(tasks.verify_audit_chain, "delay", lambda: started.append(1))
    client = login(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get("/audit/").content.decode()
        client.get("/audit/")
    assert "The first verification of the audit log is running now" in page
    assert "manage.py" not in page
    assert started == [1]  # once, not at every page while it runs
    tasks.verify_audit_chain.run()  # what the worker does with it
    assert "Audit chain intact" in client.get("/audit/").content.decode()


def test_export_rows_equal_the_filters_rows(login, auditor, population):
    client = login(auditor)
    params = {"state": "failed"}
    listed = ids_in(client.get("/audit/", params))
    response = client.get("/audit/export.csv", params)
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0].keys()) == exports.EXPORT_COLUMNS
    assert sorted(int(r["id"]) for r in rows) == sorted(listed)
    jsonl = client.get("/audit/export.jsonl", params)
    lines = [json.loads(line) for line in b"".join(jsonl.streaming_content).splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(listed)
    assert list(lines[0].keys()) == exports.EXPORT_COLUMNS


def test_export_carries_resources_tags_and_decisions(login, auditor, population):
    response = login(auditor).get("/audit/export.jsonl", {"service": "epsrv-aaaaaaaaaaaaaaaaaaaa"})
    [row] = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert row["resources"] == "nlb:nlb-special@cn-hangzhou-h"
    assert row["approvers"] == "approver:approve"
    assert row["requester"] == "requester"


def test_csv_cells_cannot_become_formulas(login, auditor, requester):
    ServiceRequestFactory(requester=requester, service_description='=HYPERLINK("x")')
    text = b"".join(login(auditor).get("/audit/export.csv").streaming_content).decode()
    assert "'=HYPERLINK" in text


def _export_peak(client, url):
    tracemalloc.start()
    for _ in client.get(url).streaming_content:
        pass
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_large_export_streams_in_constant_memory(login, auditor, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 100)
    client = login(auditor)
    call_command("generate_history", requests=400, batch=400)
    small = _export_peak(client, "/audit/export.csv")
    call_command("generate_history", requests=1600, batch=800, seed=8)
    large = _export_peak(client, "/audit/export.csv")
    assert ServiceRequest.objects.count() == 2000
    # Five times the rows; the peak stays that of one chunk.
    assert large < small * 1.5, (small, large)


def test_non_auditors_cannot_read_the_history(login, requester, approver):
    for user in (requester, approver):
        client = login(user)
        for path in ("/audit/", "/audit/export.csv", "/audit/export.jsonl", "/audit/requests/1/"):
            assert client.get(path).status_code == 403


def test_auditors_posts_are_refused_everywhere(login, auditor, requester):
    ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL, pk=1)
    client = login(auditor)
    # Not here: their own (read) API tokens, and the API, which answers by token only.
    paths = [
        route.replace("<int:pk>", "1")
        for route in project_patterns().values()
        if not route.startswith(("/admin/", "/accounts/", "/account/tokens/", "/api/", "/scim/"))
    ]
    assert len(paths) > 15
    for path in paths:
        assert client.post(path, {"comment": "x"}).status_code == 403, path
    assert client.post("/api/v1/requests/1/approve", {"comment": "x"}).status_code == 403
    assert ServiceRequest.objects.get(pk=1).state == State.PENDING_APPROVAL
    assert client.post("/accounts/logout/").status_code == 302


def test_auditor_sees_no_buttons(login, auditor, requester):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    client = login(auditor)
    assert client.get("/").url == "/audit/"
    html = client.get(f"/requests/{request.pk}/").content.decode()
    for label in ("Approve", "Clone into a new draft", "Cancel request", "Validate", "Edit"):
        assert f">{label}</" not in html, label
    nav = client.get("/audit/").content.decode()
    assert "New request" not in nav


def test_audit_events_are_read_only_in_the_admin(client, admin_user, requester):
    from portal.audit.models import AuditEvent

    service_request = ServiceRequestFactory(requester=requester)
    client.force_login(admin_user)
    event = AuditEvent.objects.get(request_id=service_request.pk)
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {}).status_code == 403
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
