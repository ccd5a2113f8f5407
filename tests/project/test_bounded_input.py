"""Input is bounded before any work, and bad input is a clear answer, never a 500."""

import csv
import io
import json

import pytest
from django.db import DatabaseError

from portal.audit.models import AuditEvent
from portal.requests.forms import MAX_SERVICE_RESOURCES
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def create_form(**overrides):
    data = {
        "region_id": "cn-hangzhou",
        "service_description": "Orders API",
        "service_resource_type": "nlb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "justification": "x",
        "resources-TOTAL_FORMS": "1",
        "resources-INITIAL_FORMS": "0",
        "resources-0-resource_type": "nlb",
        "resources-0-resource_id": "nlb-hz0000000000000001",
        "resources-0-zone_id": "cn-hangzhou-h",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
        "action": "validate",
    }
    data.update(overrides)
    return data


def test_thousands_of_claimed_rows_build_at_most_the_apis_maximum(login, requester):
    data = create_form(**{"resources-TOTAL_FORMS": "2000", "tags-TOTAL_FORMS": "2000"})
    response = login(requester).post("/requests/new/", data)
    assert response.status_code == 200
    editor = response.context["editor"]
    assert len(editor.resources.forms) == 10  # Create takes at most 10
    assert len(editor.tags.forms) == 20
    assert "At most 10 resources." in response.content.decode()
    assert "At most 20 tags." in response.content.decode()
    assert len(response.content) < 200_000


def test_a_change_builds_at_most_a_services_twenty_resources(login, requester, service):
    data = {"resources-TOTAL_FORMS": "2000", "resources-INITIAL_FORMS": "0"}
    response = login(requester).post(f"/services/{service.service_id}/change/", data)
    assert response.status_code == 200
    assert len(response.context["editor"].resources.forms) == MAX_SERVICE_RESOURCES
    assert "At most 20 resources." in response.content.decode()


def test_actions_that_call_the_cloud_are_limited_per_user(
    login, requester, requester2, settings, simulator
):
    settings.CLOUD_ACTIONS_PER_MINUTE = 3
    client = login(requester)
    for _ in range(3):
        assert client.post("/requests/new/", create_form()).status_code == 200
    refused = client.post("/requests/new/", create_form())
    assert refused.status_code == 429
    assert "the most the portal allows one person" in refused.content.decode()
    draft = ServiceRequestFactory(requester=requester)
    assert client.post(f"/requests/{draft.pk}/validate/").status_code == 429
    assert client.post(f"/requests/{draft.pk}/submit/").status_code == 429
    assert not draft.events.filter(action="dry_run").exists()
    # Another person has their own budget; drafts and row edits cost nothing.
    assert login(requester2).post("/requests/new/", create_form()).status_code == 200
    client.force_login(requester)
    assert client.post("/requests/new/", create_form(action="add-tag")).status_code == 200


@pytest.mark.parametrize("path", ["/audit/export.csv", "/audit/export.jsonl"])
def test_an_export_with_an_invalid_filter_is_refused(login, auditor, requester, path):
    ServiceRequestFactory(requester=requester, state=State.FAILED)
    response = login(auditor).get(path, {"state": "faild"})
    assert response.status_code == 400
    assert "Not exported: state: Select a valid choice" in response.content.decode()


def test_the_history_shows_an_invalid_filter_and_no_rows(login, auditor, requester):
    ServiceRequestFactory(requester=requester)
    response = login(auditor).get("/audit/", {"state": "faild"})
    assert response.context["rows"] == []
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.parametrize("path", ["/audit/", "/services/"])
def test_absurd_page_numbers_are_not_found(login, auditor, path):
    assert login(auditor).get(path, {"page": "99999999999999999999"}).status_code == 404


def test_impossible_dates_are_form_errors(login, auditor, requester):
    ServiceRequestFactory(requester=requester)
    client = login(auditor)
    page = client.get("/audit/", {"created_before": "9999-12-31"})
    assert page.status_code == 200
    assert "Choose a date before 3000." in page.content.decode()
    assert client.get("/audit/export.csv", {"decided_after": "1900-01-01"}).status_code == 400


def test_health_says_no_more_than_that_the_database_is_down(client, monkeypatch):
    from portal import views

    class Broken:
        def __enter__(self):
            raise DatabaseError('FATAL: password authentication failed for user "portal"')

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(views.connection, "cursor", lambda: Broken())
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
    assert "password" not in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service_description", "Orders\nApprove here: https://evil.example/approve"),
        ("service_description", "Orders\u2028API"),
        ("tags-0-value", "a\r\nb"),
    ],
)
def test_one_line_fields_refuse_line_breaks(login, requester, field, value):
    data = create_form(
        action="draft", **{"tags-TOTAL_FORMS": "1", "tags-0-key": "team", "tags-0-value": "a"}
    )
    data[field] = value
    response = login(requester).post("/requests/new/", data)
    assert response.status_code == 200
    assert "This field is one line: remove the line breaks." in response.content.decode()
    assert not AuditEvent.objects.filter(action="created").exists()


def test_exports_write_one_time_format_and_escape_line_separators(login, auditor, requester):
    request = ServiceRequestFactory(
        requester=requester, justification="first\u2028second\u2029third"
    )
    client = login(auditor)
    text = b"".join(client.get("/audit/export.jsonl").streaming_content).decode()
    assert "\u2028" not in text and "\u2029" not in text
    assert "\\u2028" in text
    [line] = text.splitlines()
    row = json.loads(line)
    assert row["justification"] == "first\u2028second\u2029third"
    csv_text = b"".join(client.get("/audit/export.csv").streaming_content).decode()
    [csv_row] = list(csv.DictReader(io.StringIO(csv_text)))
    assert csv_row["created_at"] == row["created_at"]
    assert row["created_at"] == request.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
