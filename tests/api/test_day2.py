"""The API's day-2 actions, as on the pages: clone, connections, refresh, drift, unmanaged.

Each happy path runs against the simulator through the official SDK, and each event the call
causes names the token it came through (`via`).
"""

import json

import pytest
from django_ratelimit import core as ratelimit_core

from portal.audit.models import AuditEvent
from portal.endpoint_services.models import EndpointService
from portal.service_requests.models import Kind, ServiceRequest, State
from tests.endpoint_services.test_consumers import waiting_connection
from tests.endpoint_services.test_day2 import console
from tests.support.api import call, token
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def body(response):
    return json.loads(response.content)


def via(event):
    return event.details.get("via", {}).get("token")


# --- clone ------------------------------------------------------------------------------


def test_clone_starts_a_draft_of_ones_own_with_the_parameters(client, requester, approver):
    rejected = ServiceRequestFactory(
        requester=requester,
        state=State.REJECTED,
        auto_accept_enabled=True,
        tags=[("team", "orders")],
    )
    secret = token(approver)
    response = call(client, "POST", f"requests/{rejected.pk}/clone", secret)
    assert response.status_code == 201
    made = body(response)
    assert made["id"] != rejected.pk
    assert (made["state"], made["requester"], made["kind"]) == ("draft", "approver", "create")
    assert made["auto_accept_enabled"] is True
    assert made["justification"] == rejected.justification
    assert made["tags"] == [{"key": "team", "value": "orders"}]
    assert made["resources"] == [
        {
            "resource_type": "nlb",
            "resource_id": "nlb-hz0000000000000001",
            "zone_id": "cn-hangzhou-h",
        }
    ]
    assert response["Location"].endswith(f"/api/v1/requests/{made['id']}")
    cloned = ServiceRequest.objects.get(pk=made["id"]).events.get(action="cloned")
    assert cloned.details["source"] == rejected.pk
    assert via(cloned) is not None
    assert AuditEvent.objects.filter(action="api_write", details__status=201).exists()


def test_only_create_requests_are_cloned(client, requester, service):
    change = ServiceRequestFactory(
        requester=requester, kind=Kind.CHANGE, endpoint_service=service, state=State.REJECTED
    )
    before = ServiceRequest.objects.count()
    response = call(client, "POST", f"requests/{change.pk}/clone", token(requester))
    assert response.status_code == 403
    assert body(response)["detail"] == "Only create requests can be cloned."
    missing = call(client, "POST", "requests/999999/clone", token(requester))
    assert missing.status_code == 404
    assert ServiceRequest.objects.count() == before


# --- connections ------------------------------------------------------------------------


def test_a_keeper_accepts_a_waiting_connection_through_the_api(
    client, login, service, requester, requester2, simulator
):
    connection = waiting_connection(login, service, requester, requester2, simulator)
    path = f"services/{service.service_id}/connections/{connection.endpoint_id}"
    assert call(client, "POST", f"{path}/accept", token(requester2)).status_code == 403

    secret = token(requester)
    response = call(client, "POST", f"{path}/accept", secret)
    assert response.status_code == 200, response.content
    answer = body(response)
    assert answer["endpoint_id"] == connection.endpoint_id
    assert (answer["status"], answer["in_flight"], answer["admitted"]) == (
        "Connecting",
        True,
        True,
    )
    accepted = service.events.get(action="connection_accepted")
    assert accepted.actor == requester and via(accepted) is not None
    assert accepted.details["cloud_call"]["action"] == "EnableVpcEndpointConnection"

    again = call(client, "POST", f"{path}/accept", secret)
    assert again.status_code == 409
    assert "being accepted already" in body(again)["detail"]
    assert service.events.filter(action="connection_accepted").count() == 1


def test_a_keeper_rejects_a_waiting_connection_once(
    client, login, service, requester, requester2, simulator
):
    connection = waiting_connection(login, service, requester, requester2, simulator)
    path = f"services/{service.service_id}/connections/{connection.endpoint_id}/reject"
    secret = token(requester)
    response = call(client, "POST", path, secret)
    assert response.status_code == 200
    assert body(response)["rejected_at"] is not None
    connection.refresh_from_db()
    assert connection.rejected_by == requester and connection.status == "Disconnected"
    again = call(client, "POST", path, secret)
    assert again.status_code == 409
    assert "rejected already" in body(again)["detail"]


def test_deciding_an_endpoint_that_is_not_connected_is_a_conflict(client, requester, service):
    path = f"services/{service.service_id}/connections/ep-nosuchendpoint000/accept"
    response = call(client, "POST", path, token(requester))
    assert response.status_code == 409
    assert body(response)["detail"] == (
        "No endpoint ep-nosuchendpoint000 is connected to this service."
    )


# --- refresh and drift --------------------------------------------------------------------


def test_refresh_sees_drift_and_accepting_it_is_audited_with_the_token(
    client, requester, service, simulator
):
    console(simulator, "describe", service.service_id, "changed in the console")
    secret = token(requester)
    refreshed = call(client, "POST", f"services/{service.service_id}/refresh", secret)
    assert refreshed.status_code == 200
    answer = body(refreshed)
    assert answer["drifted"] is True
    assert answer["service_description"] == "changed in the console"
    assert any("changed in the console" in line for line in answer["drift"])
    assert via(service.events.get(action="refreshed")) is not None

    accepted = call(client, "POST", f"services/{service.service_id}/accept-drift", secret)
    assert accepted.status_code == 200
    assert body(accepted)["drifted"] is False
    assert via(service.events.get(action="drift_accepted")) is not None
    service.refresh_from_db()
    assert service.approved["service_description"] == "changed in the console"

    again = call(client, "POST", f"services/{service.service_id}/accept-drift", secret)
    assert again.status_code == 409
    assert body(again)["detail"] == "The service has not drifted: there is nothing to accept."


def test_refresh_and_accept_drift_are_for_keepers(client, requester2, auditor, service):
    for path in ("refresh", "accept-drift"):
        other = call(client, "POST", f"services/{service.service_id}/{path}", token(requester2))
        assert other.status_code == 403
        assert body(other)["detail"].startswith("Only the service's owner and approvers can")
    assert not service.events.filter(action__in=["refreshed", "drift_accepted"]).exists()
    missing = call(client, "POST", "services/epsrv-nosuchservice00000/refresh", token(requester2))
    assert missing.status_code == 404


def test_refresh_counts_against_the_cloud_budget_the_pages_share(
    client, requester, service, settings, monkeypatch
):
    # django-ratelimit counts in fixed one-minute windows: calls either side of a window's
    # end would each be the first of theirs. One window for the whole test.
    monkeypatch.setattr(ratelimit_core, "_get_window", lambda value, period: 0)
    settings.CLOUD_ACTIONS_PER_MINUTE = 1
    secret = token(requester)
    assert call(client, "POST", f"services/{service.service_id}/refresh", secret).status_code == 200
    limited = call(client, "POST", f"services/{service.service_id}/refresh", secret)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert service.events.filter(action="refreshed").count() == 1
    client.force_login(requester)
    assert client.post(f"/services/{service.service_id}/refresh/").status_code == 429


def test_a_refresh_the_cloud_does_not_answer_is_502_and_keeps_the_last_reading(
    client, requester, service, simulator
):
    read_at = service.read_at
    simulator.faults(error_next=50)
    response = call(client, "POST", f"services/{service.service_id}/refresh", token(requester))
    assert response.status_code == 502
    assert body(response)["detail"].startswith("Not refreshed: ")
    service.refresh_from_db()
    assert service.read_at == read_at


# --- unmanaged services -------------------------------------------------------------------


def unmanaged(service_id, region_id, status="active"):
    return EndpointService.objects.create(
        service_id=service_id, region_id=region_id, status=status, managed=False
    )


def test_approvers_list_the_services_the_portal_did_not_make(client, approver, auditor, service):
    unmanaged("epsrv-unmanaged00000000002", "cn-shanghai")
    unmanaged("epsrv-unmanaged00000000001", "cn-hangzhou")
    unmanaged("epsrv-unmanaged00000000003", "cn-hangzhou", status="deleted")
    for user in (approver, auditor):
        listed = body(call(client, "GET", "services/unmanaged", token(user, "read")))
        assert [s["service_id"] for s in listed["items"]] == [
            "epsrv-unmanaged00000000001",
            "epsrv-unmanaged00000000002",
        ]
        assert {s["managed"] for s in listed["items"]} == {False}
        assert listed["has_next"] is False


def test_unmanaged_services_are_not_for_requesters_and_pages_are_numbers(
    client, requester, approver
):
    refused = call(client, "GET", "services/unmanaged", token(requester, "read"))
    assert refused.status_code == 403
    assert body(refused)["detail"] == "Unmanaged services are for approvers and admins."
    secret = token(approver, "read")
    wrong = call(client, "GET", "services/unmanaged?page=first", secret)
    assert wrong.status_code == 422 and body(wrong)["errors"][0]["field"] == "page"
    assert call(client, "GET", "services/unmanaged?page=99999999", secret).status_code == 404


# --- what the pages show around a request and a service -----------------------------------


def test_an_owner_lists_the_access_requests_that_wait_for_them(
    client, login, service, requester, requester2, approver
):
    from tests.endpoint_services.test_consumers import ask_access

    assert ask_access(login(requester2), service).status_code == 302
    every = ask_access(login(requester2), service, account="*").status_code
    assert every == 302
    mine = body(call(client, "GET", "approvals/owned", token(requester, "read")))
    [item] = mine["items"]
    assert (item["kind"], item["account_id"], item["requester"]) == (
        "access",
        "1000000000000003",
        "requester2",
    )
    # Every account is the approvers' to decide; one's own requests are not in one's queue.
    assert body(call(client, "GET", "approvals/owned", token(requester2, "read")))["items"] == []
    assert body(call(client, "GET", "approvals/owned", token(approver, "read")))["items"] == []
    wrong = call(client, "GET", "approvals/owned?page=0x", token(requester, "read"))
    assert wrong.status_code == 422


def test_load_balancers_are_listed_with_their_zones_for_a_request(client, requester):
    secret = token(requester, "read")
    found = body(
        call(
            client, "GET", "load-balancers?region_id=cn-hangzhou&service_resource_type=nlb", secret
        )
    )
    assert found["total"] == 1002 and len(found["load_balancers"]) == 50
    by_id = {lb["id"]: lb for lb in found["load_balancers"]}
    assert by_id["nlb-hz0000000000000002"]["zones"] == ["cn-hangzhou-i", "cn-hangzhou-j"]
    assert found["zone_required"] is True and found["note"] == ""
    slb = body(
        call(
            client, "GET", "load-balancers?region_id=cn-hangzhou&service_resource_type=slb", secret
        )
    )
    refused = {lb["id"]: lb for lb in slb["load_balancers"]}["lb-hz00000000000000002"]
    assert refused["privatelink"] is False and refused["why_not"].startswith("Internet-facing")
    assert slb["zone_required"] is False
    gwlb = body(
        call(
            client, "GET", "load-balancers?region_id=cn-hangzhou&service_resource_type=gwlb", secret
        )
    )
    # The GWLB SDK's listing, as the others' (its calls name no region: the endpoint does).
    assert [(lb["id"], lb["zones"]) for lb in gwlb["load_balancers"]] == [
        ("gwlb-hz000000000000001", ["cn-hangzhou-h", "cn-hangzhou-i"])
    ]
    assert gwlb["zone_required"] is True and gwlb["note"] == ""


def test_load_balancers_refuse_bad_input_and_auditors(client, requester, auditor):
    secret = token(requester, "read")
    wrong = call(client, "GET", "load-balancers?region_id=CN hz&service_resource_type=xlb", secret)
    assert wrong.status_code == 422
    assert {e["field"] for e in body(wrong)["errors"]} == {"region_id", "service_resource_type"}
    missing = call(client, "GET", "load-balancers", secret)
    assert missing.status_code == 422
    query = "load-balancers?region_id=cn-hangzhou&service_resource_type=nlb"
    refused = call(client, "GET", query, token(auditor, "read"))
    assert refused.status_code == 403
    assert body(refused)["detail"] == "Auditors do not make requests."


def test_keepers_list_the_requests_about_a_service(
    client, login, service, requester, requester2, auditor
):
    from tests.endpoint_services.test_consumers import ask_access

    ask_access(login(requester2), service)
    path = f"services/{service.service_id}/requests"
    for user in (requester, auditor):
        listed = body(call(client, "GET", path, token(user, "read")))
        assert [(r["kind"], r["requester"]) for r in listed["items"]] == [
            ("access", "requester2"),
            ("create", "requester"),
        ]
    other = call(client, "GET", path, token(requester2, "read"))
    assert other.status_code == 403
    assert call(client, "GET", f"{path}?page=x", token(requester, "read")).status_code == 422


def test_a_services_own_history_is_read_as_its_page_shows_it(
    client, requester, requester2, service, simulator
):
    console(simulator, "describe", service.service_id, "changed in the console")
    call(client, "POST", f"services/{service.service_id}/refresh", token(requester))
    path = f"services/{service.service_id}/events"
    listed = body(call(client, "GET", path, token(requester2, "read")))
    actions = [event["action"] for event in listed["items"]]
    assert actions[:2] == ["drift_detected", "refreshed"]
    drift = listed["items"][0]
    assert drift["actor"] == "requester"
    assert any("changed in the console" in line for line in drift["differences"])
    assert listed["items"] == sorted(listed["items"], key=lambda e: e["seq"], reverse=True)
    gone = call(client, "GET", "services/epsrv-nosuchservice00000/events", token(requester2))
    assert gone.status_code == 404


def test_a_requests_cloud_calls_are_read_step_by_step(client, requester, requester2, approver):
    from tests.support.api import CREATE

    secret = token(requester)
    made = body(call(client, "POST", "requests", secret, CREATE))
    call(client, "POST", f"requests/{made['id']}/validate", secret)
    call(client, "POST", f"requests/{made['id']}/submit", secret)
    log = body(call(client, "GET", f"requests/{made['id']}/calls", token(approver, "read")))
    assert [(s["label"], s["status"], s["began"]) for s in log["steps"]] == [
        ("Draft", "done", "created"),
        ("Submitted", "current", "submit"),
    ]
    dry_runs = log["steps"][0]["calls"]
    assert [(c["action"], c["dry_run"], c["verdict"]) for c in dry_runs] == [
        ("CreateVpcEndpointService", True, "ok")
    ] * 2
    assert all(c["request_id"] for c in dry_runs)
    earlier = call(client, "GET", f"requests/{made['id']}/calls?before={log['oldest_seq']}", secret)
    assert body(earlier) == {"steps": [], "earlier_calls": 0, "oldest_seq": None}
    assert call(client, "GET", f"requests/{made['id']}/calls?before=x", secret).status_code == 422
    hidden = call(client, "GET", f"requests/{made['id']}/calls", token(requester2, "read"))
    assert hidden.status_code == 404
