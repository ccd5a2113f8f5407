"""The auditors' history through the API: the page's filters, pages, exports and chain check."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.history import exports
from portal.service_requests.models import ServiceRequest, State
from tests.history.test_pages import population  # noqa: F401 (a fixture)
from tests.support.api import call, token
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def body(response):
    return json.loads(response.content)


def errors_of(response):
    return {e["field"]: e["message"] for e in body(response)["errors"]}


def listed(client, secret, query=""):
    response = call(client, "GET", f"audit/requests{query}", secret)
    assert response.status_code == 200, response.content
    return [item["id"] for item in body(response)["items"]]


def page_ids(client, user, query):
    client.force_login(user)
    response = client.get(f"/audit/{query}")
    client.logout()
    return [row.pk for row in response.context["rows"]]


QUERIES = [
    "",
    "?state=failed",
    "?state=failed&state=draft",
    "?kind=create&region_id=cn-shanghai",
    "?requester=requester2",
    "?approver=approver",
    "?service=epsrv-aaaaaaaaaaaaaaaaaaaa",
    "?resource_id=nlb-special",
    "?q=LEDGER",
    "?state=failed&requester=requester",
    "?ordering=created",
    "?ordering=state,-created",
    "?created_before={yesterday}",
    "?created_after={today}&state=failed",
    "?decided_after={today}&state=failed",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_history_filters_as_the_page_does(client, auditor, population, query):  # noqa: F811
    today = timezone.localdate()
    query = query.format(today=today, yesterday=today - timedelta(days=1))
    expected = page_ids(client, auditor, query)
    assert listed(client, token(auditor, "read"), query) == expected
    if "ordering" in query:  # each query changes what the page shows, or its order
        assert expected != page_ids(client, auditor, "")
    elif query:
        assert len(expected) < ServiceRequest.objects.count()


def test_a_history_row_names_its_decisions(client, auditor, population):  # noqa: F811
    secret = token(auditor, "read")
    [row] = body(call(client, "GET", "audit/requests?resource_id=nlb-special", secret))["items"]
    assert row["id"] == population["active"].pk
    assert row["state"] == "active" and row["decided_at"] is not None
    assert [(d["approver"], d["decision"]) for d in row["decisions"]] == [("approver", "approve")]


def test_the_history_pages_without_counting(client, auditor, requester):
    for _ in range(51):
        ServiceRequestFactory(requester=requester)
    secret = token(auditor, "read")
    first = body(call(client, "GET", "audit/requests", secret))
    second = body(call(client, "GET", "audit/requests?page=2", secret))
    assert (len(first["items"]), first["has_next"]) == (50, True)
    assert (len(second["items"]), second["has_next"], second["page"]) == (1, False, 2)
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert sorted(ids) == sorted(ServiceRequest.objects.values_list("pk", flat=True))
    assert call(client, "GET", "audit/requests?page=99999999", secret).status_code == 404


@pytest.mark.parametrize("path", ["audit/requests", "audit/export.csv", "audit/export.jsonl"])
def test_bad_filters_are_named_never_every_row(client, auditor, population, path):  # noqa: F811
    secret = token(auditor, "read")
    response = call(client, "GET", f"{path}?created_after=yesterday&state=bogus", secret)
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/json")
    errors = errors_of(response)
    assert errors["created_after"] == "Enter a valid date."
    assert "bogus" in errors["state"]


@pytest.mark.parametrize("path", ["audit/requests", "audit/export.csv", "audit/export.jsonl"])
def test_the_history_is_for_auditors(client, requester, approver, path):
    for user in (requester, approver):
        response = call(client, "GET", path, token(user))
        assert response.status_code == 403
        assert body(response)["detail"] == "The history is for auditors."


def test_exports_are_the_pages_exports_streamed(client, auditor, population):  # noqa: F811
    secret = token(auditor, "read")
    client.force_login(auditor)
    written = {}
    for name, media_type in (("export.csv", "text/csv"), ("export.jsonl", "application/x-ndjson")):
        page = client.get(f"/audit/{name}?state=failed")
        response = call(client, "GET", f"audit/{name}?state=failed", secret)
        assert response.status_code == 200 and response.streaming
        assert response["Content-Type"] == f"{media_type}; charset=utf-8"
        assert response["Content-Disposition"] == page["Content-Disposition"]
        text = b"".join(response.streaming_content)
        assert text == b"".join(page.streaming_content)
        written[name] = text.decode()
    rows = list(csv.DictReader(io.StringIO(written["export.csv"])))
    assert list(rows[0]) == exports.EXPORT_COLUMNS
    failed = sorted([population["old_failed"].pk, population["failed_sh"].pk])
    assert sorted(int(r["id"]) for r in rows) == failed
    lines = [json.loads(line) for line in written["export.jsonl"].splitlines()]
    assert sorted(line["id"] for line in lines) == failed


def test_the_schema_says_what_an_export_is(client):
    document = json.loads(client.get("/api/v1/openapi.json").content)
    for path, media_type in (("csv", "text/csv"), ("jsonl", "application/x-ndjson")):
        answer = document["paths"][f"/api/v1/audit/export.{path}"]["get"]["responses"]["200"]
        assert list(answer["content"]) == [media_type]


# --- one request's chain --------------------------------------------------------------------


def test_auditors_see_whether_a_requests_events_are_intact(client, auditor, requester):
    pending = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    secret = token(auditor, "read")
    intact = body(call(client, "GET", f"requests/{pending.pk}/chain", secret))
    assert intact == {
        "ok": True,
        "events_checked": pending.events.count(),
        "broken_event": None,
        "message": "",
    }
    target = pending.events.order_by("seq").last()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET comment = %s WHERE id = %s", ["rubber stamp", target.pk]
        )
    broken = body(call(client, "GET", f"requests/{pending.pk}/chain", secret))
    assert broken["ok"] is False
    assert broken["broken_event"] == target.seq
    assert "was edited" in broken["message"]


def test_a_requests_chain_is_for_auditors(client, requester, approver, auditor):
    pending = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    for user in (requester, approver):
        response = call(client, "GET", f"requests/{pending.pk}/chain", token(user))
        assert response.status_code == 403
    assert call(client, "GET", "requests/999999/chain", token(auditor, "read")).status_code == 404
    # Refused before any lookup: a requester learns nothing of which ids exist.
    assert call(client, "GET", "requests/999999/chain", token(requester)).status_code == 403
    assert call(client, "GET", "requests/999999/chain", token(approver)).status_code == 403
