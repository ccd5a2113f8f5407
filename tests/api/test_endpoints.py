"""The HTTP API: its schema, every endpoint for every role and token scope, and its answers.

Adding an endpoint without a row in API_MATRIX fails test_every_api_operation_has_a_row
(and test_access_matrix's completeness check, which leaves the API's URLs to this file).
"""

import json
from datetime import timedelta

import pytest
from django.urls import resolve
from django.utils import timezone
from openapi_spec_validator import validate

from portal.approvals.models import Delegation
from portal.endpoint_services.models import EndpointService
from portal.service_requests.models import ServiceRequest, State
from portal.teams.models import Team
from tests.support.api import CREATE, call, token
from tests.support.factories import ServiceRequestFactory, UserFactory

ROLES = ["anonymous", "owner", "other", "approver", "auditor", "admin"]
SERVICE_ID = "epsrv-matrix0000000000000"
ENDPOINT_ID = "ep-matrix00000000000000"
MANAGED = {
    "managed": True,
    "service_resource_type": "nlb",
    "payer": "Endpoint",
    "address_ip_version": "IPv4",
    "service_description": "matrix",
    "supported_region_list": ["cn-hangzhou"],
    "allowed_users": ["1000000000000003"],
}
UNMANAGED = {**MANAGED, "managed": False, "allowed_users": []}
DECISION = {"comment": "matrix"}  # plus the revision and digest of the request
# A delegation from "approver" to "owner", for the calls that name one.
DELEGATION = "delegation"
LEND = {"delegate": "other", "reason": "matrix"}  # plus an end a week from now


def cells(owner, other, approver, auditor, admin, anonymous=401):
    return {
        "anonymous": anonymous,
        "owner": owner,
        "other": other,
        "approver": approver,
        "auditor": auditor,
        "admin": admin,
    }


def everyone(status):
    return cells(status, status, status, status, status)


# (url name, method): (what the URL names: a request's state or a service's fields, owned by
# "owner"; the body sent; {role: status with a write token}). A read token gets the same
# answers to GET, and 403 to every write.
API_MATRIX = {
    ("api:openapi-json", "GET"): (None, None, cells(200, 200, 200, 200, 200, anonymous=200)),
    ("api:openapi-view", "GET"): (None, None, cells(200, 200, 200, 200, 200, anonymous=200)),
    ("api:me", "GET"): (None, None, everyone(200)),
    ("api:tokens", "GET"): (None, None, everyone(200)),
    # The id is no token of theirs.
    ("api:token_revoke", "POST"): (None, {}, cells(404, 404, 404, 403, 404)),
    ("api:requests", "GET"): (None, None, everyone(200)),
    ("api:requests", "POST"): (None, CREATE, cells(201, 201, 201, 403, 201)),
    ("api:request", "GET"): (State.PENDING_APPROVAL, None, cells(200, 404, 200, 200, 200)),
    ("api:request", "PUT"): (
        State.DRAFT,
        {"revision": 1, "service_description": "edited by a pipeline"},
        cells(200, 404, 403, 403, 403),
    ),
    ("api:validate", "POST"): (State.DRAFT, {}, cells(200, 404, 200, 403, 200)),
    ("api:submit", "POST"): (State.DRAFT, {}, cells(200, 404, 403, 403, 403)),
    ("api:cancel", "POST"): (State.PENDING_APPROVAL, {}, cells(200, 404, 403, 403, 403)),
    ("api:approve", "POST"): (State.PENDING_APPROVAL, DECISION, cells(403, 404, 200, 403, 200)),
    ("api:reject", "POST"): (State.PENDING_APPROVAL, DECISION, cells(403, 404, 200, 403, 200)),
    ("api:send_back", "POST"): (State.PENDING_APPROVAL, DECISION, cells(403, 404, 200, 403, 200)),
    ("api:retry", "POST"): (State.FAILED, {}, cells(403, 404, 200, 403, 200)),
    ("api:clone", "POST"): (State.REJECTED, {}, cells(201, 404, 201, 403, 201)),
    ("api:events", "GET"): (State.PENDING_APPROVAL, None, cells(403, 403, 403, 200, 200)),
    ("api:chain", "GET"): (State.PENDING_APPROVAL, None, cells(403, 403, 403, 200, 200)),
    ("api:calls", "GET"): (State.PENDING_APPROVAL, None, cells(200, 404, 200, 200, 200)),
    ("api:queue", "GET"): (None, None, cells(403, 403, 200, 403, 200)),
    ("api:owner_queue", "GET"): (None, None, everyone(200)),
    ("api:load_balancers", "GET"): (None, None, cells(200, 200, 200, 403, 200)),
    ("api:services", "GET"): (None, None, everyone(200)),
    ("api:unmanaged", "GET"): (None, None, cells(403, 403, 200, 200, 200)),
    ("api:service", "GET"): (MANAGED, None, everyone(200)),
    ("api:allow_list", "GET"): (MANAGED, None, cells(200, 403, 200, 200, 200)),
    ("api:connections", "GET"): (MANAGED, None, cells(200, 403, 200, 200, 200)),
    ("api:service_requests", "GET"): (MANAGED, None, cells(200, 403, 200, 200, 200)),
    ("api:service_events", "GET"): (MANAGED, None, everyone(200)),
    ("api:change", "POST"): (
        MANAGED,
        {"service_description": "changed by a pipeline", "justification": "matrix"},
        cells(201, 403, 201, 403, 201),
    ),
    ("api:decommission", "POST"): (
        MANAGED,
        {"justification": "matrix"},
        cells(201, 403, 201, 403, 201),
    ),
    ("api:access", "POST"): (
        MANAGED,
        {"account_id": "1000000000000004", "justification": "matrix"},
        cells(201, 201, 201, 403, 201),
    ),
    ("api:revoke", "POST"): (
        MANAGED,
        {"account_id": "1000000000000003", "justification": "matrix"},
        cells(201, 403, 201, 403, 201),
    ),
    ("api:delegations", "GET"): (None, None, everyone(200)),
    ("api:delegations", "POST"): (None, LEND, cells(403, 403, 201, 403, 201)),
    # The delegator, the delegate (giving it back) and admins; nobody else sees it (auditors
    # write nothing).
    ("api:delegation_revoke", "POST"): (DELEGATION, {}, cells(200, 404, 200, 403, 200)),
    # Keepers only; the endpoint named is not connected: 409, nothing called.
    ("api:connection_accept", "POST"): (MANAGED, {}, cells(409, 403, 409, 403, 409)),
    ("api:connection_reject", "POST"): (MANAGED, {}, cells(409, 403, 409, 403, 409)),
    # The simulator does not know the service: read as deleted outside the portal.
    ("api:refresh", "POST"): (MANAGED, {}, cells(200, 403, 200, 403, 200)),
    # Nothing drifted: nothing to accept.
    ("api:accept_drift", "POST"): (MANAGED, {}, cells(409, 403, 409, 403, 409)),
    ("api:history", "GET"): (None, None, cells(403, 403, 403, 200, 200)),
    ("api:export_csv", "GET"): (None, None, cells(403, 403, 403, 200, 200)),
    ("api:export_jsonl", "GET"): (None, None, cells(403, 403, 403, 200, 200)),
    # The owner and approvers ask that another team take the service on.
    ("api:transfer", "POST"): (
        MANAGED,
        {"team": "matrix", "justification": "matrix"},
        cells(201, 403, 201, 403, 201),
    ),
    ("api:adopt", "POST"): (
        UNMANAGED,
        {"owner": "owner", "justification": "matrix"},
        cells(404, 404, 201, 403, 201),
    ),
}
# Not part of the schema: the API's root answers nothing of its own.
ROOT = ("api:api-root", "GET")


def schema(client):
    return json.loads(client.get("/api/v1/openapi.json").content)


def api_operations(client):
    """{(url name, METHOD)} of every operation the schema documents, plus the schema and docs."""
    found = {("api:openapi-json", "GET"), ("api:openapi-view", "GET")}
    for path, operations in schema(client)["paths"].items():
        sample = (
            path.replace("{pk}", "1")
            .replace("{service_id}", SERVICE_ID)
            .replace("{endpoint_id}", ENDPOINT_ID)
        )
        match = resolve(sample)
        for method in operations:
            found.add((f"{match.namespace}:{match.url_name}", method.upper()))
    return found


@pytest.mark.django_db
def test_every_api_operation_has_a_row(client):
    assert api_operations(client) == set(API_MATRIX)


@pytest.mark.django_db
def test_the_schema_is_valid_openapi(client):
    document = schema(client)
    validate(document)
    assert document["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    # Every operation but the schema's own says how it fails, in one shape.
    for operations in document["paths"].values():
        for operation in operations.values():
            for status in ("401", "403", "404", "409", "422", "429"):
                assert (
                    operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                    == "#/components/schemas/Error"
                )


@pytest.mark.django_db
def test_docs_page_loads_nothing_from_outside(client):
    page = client.get("/api/v1/docs").content.decode()
    assert 'src="/static/ninja/swagger-ui-bundle.js"' in page
    assert "http://" not in page and "https://" not in page
    assert "<script>" not in page  # nothing inline for the CSP to refuse


def _subject(owner, subject):
    if isinstance(subject, State):
        return ServiceRequestFactory(requester=owner, state=subject)
    if isinstance(subject, dict):
        return EndpointService.objects.create(
            service_id=SERVICE_ID, region_id="cn-hangzhou", status="active", owner=owner, **subject
        )
    return None


def _path(name, made):
    paths = {
        "api:openapi-json": "openapi.json",
        "api:openapi-view": "docs",
        "api:me": "me",
        "api:tokens": "tokens",
        "api:token_revoke": "tokens/999999/revoke",
        "api:requests": "requests",
        "api:queue": "approvals",
        "api:owner_queue": "approvals/owned",
        "api:load_balancers": "load-balancers?region_id=cn-hangzhou&service_resource_type=nlb",
        "api:services": "services",
        "api:delegations": "delegations",
        "api:unmanaged": "services/unmanaged",
        "api:history": "audit/requests",
        "api:export_csv": "audit/export.csv",
        "api:export_jsonl": "audit/export.jsonl",
    }
    if name in paths:
        return paths[name]
    if isinstance(made, Delegation):
        return f"delegations/{made.pk}/revoke"
    if isinstance(made, ServiceRequest):
        tail = {"api:request": "", "api:send_back": "/send-back"}.get(name, f"/{name[4:]}")
        return f"requests/{made.pk}{tail}"
    tail = {
        "api:service": "",
        "api:allow_list": "/allow-list",
        "api:accept_drift": "/accept-drift",
        "api:service_requests": "/requests",
        "api:service_events": "/events",
        "api:connection_accept": f"/connections/{ENDPOINT_ID}/accept",
        "api:connection_reject": f"/connections/{ENDPOINT_ID}/reject",
    }.get(name, f"/{name[4:]}")
    return f"services/{made.service_id}{tail}"


CELLS = [
    (name, method, role, scope)
    for (name, method) in API_MATRIX
    for role in ROLES
    for scope in (("write", "read") if role != "anonymous" else (None,))
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role", "scope"), CELLS)
def test_api_access(client, name, method, role, scope, groups):
    subject, body, expected = API_MATRIX[(name, method)]
    owner = UserFactory(username="owner")
    users = {
        "owner": owner,
        "other": UserFactory(username="other"),
        "approver": UserFactory(username="approver"),
        "auditor": UserFactory(username="auditor"),
        "admin": UserFactory(username="admin", is_superuser=True, is_staff=True),
    }
    users["approver"].groups.add(groups["approvers"])
    users["auditor"].groups.add(groups["auditors"])
    made = _subject(owner, subject)
    Team.objects.create(name="matrix")
    if subject == DELEGATION:
        made = Delegation.objects.create(
            delegator=users["approver"],
            delegate=owner,
            starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(days=7),
            reason="matrix",
        )
    if body is DECISION:
        body = {**DECISION, "revision": made.revision, "digest": made.digest()}
    if body is LEND:
        body = {**LEND, "ends_at": (timezone.now() + timedelta(days=7)).isoformat()}
    secret = token(users[role], scope) if role != "anonymous" else None
    response = call(client, method, _path(name, made), secret, body)
    status = expected[role]
    if scope == "read" and method not in ("GET", "HEAD"):
        status = 403
    assert response.status_code == status, (
        f"{method} {name} as {role} ({scope}): {response.content}"
    )
    if status >= 400:
        assert json.loads(response.content)["detail"]


@pytest.mark.django_db
def test_the_api_root_names_nothing(client, requester):
    response = call(client, "GET", "/api/v1/", token(requester))
    assert response.status_code == 404


# --- what the answers say -------------------------------------------------------------


@pytest.fixture
def write(requester):
    return token(requester)


def errors_of(response):
    return {e["field"]: e["message"] for e in json.loads(response.content)["errors"]}


@pytest.mark.django_db
def test_create_refused_by_the_form_names_each_field(client, write):
    body = {
        **CREATE,
        "service_resource_type": "slb",
        "address_ip_version": "DualStack",
        "resources": [{"resource_type": "nlb", "resource_id": "nlb-hz0000000000000001"}],
        "tags": [{"key": "team", "value": "a"}, {"key": "team", "value": "b"}],
    }
    response = call(client, "POST", "requests", write, body)
    assert response.status_code == 422
    errors = errors_of(response)
    assert errors["address_ip_version"] == "DualStack is only available for nlb and gwlb services."
    assert errors["resources.0.resource_type"] == "Must be the service resource type (slb)."
    assert errors["tags.1.key"] == "Each tag key may appear only once."
    assert not ServiceRequest.objects.exists()


@pytest.mark.django_db
def test_create_refused_by_the_schema_names_the_field(client, write):
    body = {**CREATE, "resources": [{"resource_type": "elb", "resource_id": "x"}]}
    response = call(client, "POST", "requests", write, body)
    assert response.status_code == 422
    assert "resources.0.resource_type" in errors_of(response)
    response = call(client, "POST", "requests", write, {"service_description": "no region"})
    assert response.status_code == 422
    assert "region_id" in errors_of(response)


@pytest.mark.django_db
def test_create_then_submit_puts_it_in_the_queue(client, write, requester, approver):
    response = call(client, "POST", "requests", write, CREATE)
    assert response.status_code == 201
    made = json.loads(response.content)
    assert made["state"] == "draft" and made["requester"] == "requester"
    assert response["Location"].endswith(f"/api/v1/requests/{made['id']}")
    assert made["available_actions"] == ["edit", "submit", "validate", "cancel"]
    assert made["resources"] == CREATE["resources"]

    dry_run = call(client, "POST", f"requests/{made['id']}/validate", write)
    assert json.loads(dry_run.content)["ok"] is True

    submitted = call(client, "POST", f"requests/{made['id']}/submit", write)
    assert submitted.status_code == 200
    assert json.loads(submitted.content)["state"] == "pending_approval"
    queue = json.loads(call(client, "GET", "approvals", token(approver)).content)
    assert [item["id"] for item in queue["items"]] == [made["id"]]
    assert queue["items"][0]["requirement"]["needed"] == 1


@pytest.mark.django_db
def test_submit_refused_by_the_cloud_is_422_and_stays_a_draft(client, write, requester):
    draft = ServiceRequestFactory(
        requester=requester,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz9999999999999999",
                "zone_id": "cn-hangzhou-h",
            }
        ],
    )
    response = call(client, "POST", f"requests/{draft.pk}/submit", write)
    assert response.status_code == 422
    assert json.loads(response.content)["detail"].startswith("Not submitted: ")
    draft.refresh_from_db()
    assert draft.state == State.DRAFT


@pytest.mark.django_db
def test_a_decision_binds_to_the_revision_and_content_read(client, requester, approver):
    pending = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    secret = token(approver)
    read = json.loads(call(client, "GET", f"requests/{pending.pk}", secret).content)
    assert read["available_actions"] == ["validate", "approve", "send_back", "reject"]

    stale = {"revision": read["revision"] + 1, "digest": read["digest"]}
    response = call(client, "POST", f"requests/{pending.pk}/approve", secret, stale)
    assert response.status_code == 409
    assert "changed since you opened it" in json.loads(response.content)["detail"]

    other = {"revision": read["revision"], "digest": "0" * 64}
    assert call(client, "POST", f"requests/{pending.pk}/approve", secret, other).status_code == 409

    response = call(client, "POST", f"requests/{pending.pk}/approve", secret, {})
    assert response.status_code == 422
    assert set(errors_of(response)) == {"revision", "digest"}

    response = call(client, "POST", f"requests/{pending.pk}/send-back", secret, {**read})
    assert response.status_code == 422
    assert errors_of(response) == {"comment": "Say what the requester should change."}

    bound = {"revision": read["revision"], "digest": read["digest"]}
    approved = call(client, "POST", f"requests/{pending.pk}/approve", secret, bound)
    assert approved.status_code == 200
    assert json.loads(approved.content)["state"] == "approved"
    again = call(client, "POST", f"requests/{pending.pk}/approve", secret, bound)
    assert again.status_code == 409


@pytest.mark.django_db
def test_cancelling_twice_is_a_conflict(client, write, requester):
    pending = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    assert call(client, "POST", f"requests/{pending.pk}/cancel", write).status_code == 200
    response = call(client, "POST", f"requests/{pending.pk}/cancel", write)
    assert response.status_code == 409
    assert json.loads(response.content)["detail"] == "cannot cancel a request that is cancelled"


@pytest.mark.django_db
def test_a_change_keeps_what_it_leaves_out_and_shows_its_plan(client, write, service):
    body = {"service_description": "Orders API v2", "justification": "Renamed."}
    response = call(client, "POST", f"services/{service.service_id}/change", write, body)
    assert response.status_code == 201
    made = json.loads(response.content)
    assert made["kind"] == "change"
    assert [op["action"] for op in made["plan"]] == ["UpdateVpcEndpointServiceAttribute"]
    assert made["plan"][0]["params"] == {"service_description": "Orders API v2"}
    assert made["resources"] == [
        {k: r[k] for k in ("resource_type", "resource_id", "zone_id")} for r in service.resources
    ]


@pytest.mark.django_db
def test_an_account_asked_for_twice_is_a_conflict_at_its_field(client, requester2, service):
    secret = token(requester2)
    body = {"account_id": "1000 0000 0000 0003", "justification": "Team Y connects."}
    first = call(client, "POST", f"services/{service.service_id}/access", secret, body)
    assert first.status_code == 201
    assert json.loads(first.content)["account_id"] == "1000000000000003"
    second = call(client, "POST", f"services/{service.service_id}/access", secret, body)
    assert second.status_code == 409
    # Someone who does not keep the service learns no more than the page tells them.
    assert errors_of(second)["account_id"] == (
        "Account 1000000000000003 already has access to this service, or is already asked "
        "for; ask the service's owner, requester."
    )
    wrong = call(
        client, "POST", f"services/{service.service_id}/access", secret, {"account_id": "12"}
    )
    assert wrong.status_code == 422
    assert set(errors_of(wrong)) == {"account_id", "justification"}


@pytest.mark.django_db
def test_auditors_page_through_a_requests_events(client, requester, auditor):
    pending = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    for n in range(120):
        pending.record("note", actor=None, details={"n": n})
    secret = token(auditor, "read")
    first = json.loads(call(client, "GET", f"requests/{pending.pk}/events", secret).content)
    second = json.loads(call(client, "GET", f"requests/{pending.pk}/events?page=2", secret).content)
    assert first["has_next"] and not second["has_next"]
    seqs = [e["seq"] for e in first["items"] + second["items"]]
    assert seqs == sorted(seqs) and len(seqs) == pending.events.count()
    assert first["items"][0]["action"] == "created"
    past = call(client, "GET", f"requests/{pending.pk}/events?page=99999999", secret)
    assert past.status_code == 404


@pytest.mark.django_db
def test_the_catalog_filters_like_the_page(client, requester, requester2, service):
    secret = token(requester2, "read")
    listed = json.loads(call(client, "GET", "services", secret).content)
    assert [s["service_id"] for s in listed["items"]] == [service.service_id]
    mine = json.loads(call(client, "GET", "services?mine=true", secret).content)
    assert mine["items"] == []
    found = json.loads(call(client, "GET", "services?q=Orders", secret).content)
    assert [s["owner"] for s in found["items"]] == ["requester"]
    bad = call(client, "GET", "services?status=gone", secret)
    assert bad.status_code == 422 and "status" in errors_of(bad)


@pytest.mark.django_db
def test_wrong_method_is_405(client, write):
    response = call(client, "DELETE", "requests", write)
    assert response.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_a_request_goes_to_active_through_the_api_and_a_real_worker(
    client, requester, approver, simulator, tmp_path
):
    from portal.celery import app
    from tests.support.workers import running_worker, wait_for

    # The session's broker holds what earlier tests enqueued for no worker: a stale provision
    # of a request whose id this test's request reuses ran first in CI and stalled this one.
    app.control.purge()
    mine, theirs = token(requester), token(approver)
    made = json.loads(call(client, "POST", "requests", mine, CREATE).content)
    submitted = call(client, "POST", f"requests/{made['id']}/submit", mine)
    assert json.loads(submitted.content)["state"] == "pending_approval"
    with running_worker(simulator.endpoint, tmp_path) as worker:
        read = json.loads(call(client, "GET", f"requests/{made['id']}", theirs).content)
        bound = {"revision": read["revision"], "digest": read["digest"]}
        approved = call(client, "POST", f"requests/{made['id']}/approve", theirs, bound)
        assert approved.status_code == 200

        def state():
            return json.loads(call(client, "GET", f"requests/{made['id']}", mine).content)

        # As a pipeline polls: within the token's API_CALLS_PER_MINUTE (120), whatever the
        # worker's pace (polling every 0.1 s spent the minute's calls in 12 s on a busy box).
        active = wait_for(
            lambda: (found := state())["state"] == "active" and found,
            interval=0.6,
            message="active",
            worker=worker,
        )
    [service] = simulator.services()
    assert active["service_name"] == service["ServiceName"]
    assert active["service_id"] == service["ServiceId"]
    listed = json.loads(call(client, "GET", "services?mine=true", mine).content)
    assert [s["service_id"] for s in listed["items"]] == [service["ServiceId"]]


@pytest.mark.django_db
def test_an_edit_binds_to_the_revision_and_keeps_what_it_leaves_out(client, write, requester):
    made = json.loads(call(client, "POST", "requests", write, CREATE).content)
    path = f"requests/{made['id']}"
    edit = {"revision": made["revision"], "tags": [{"key": "env", "value": "prod"}]}
    edited = call(client, "PUT", path, write, edit)
    assert edited.status_code == 200
    body = json.loads(edited.content)
    assert body["revision"] == made["revision"] + 1
    assert body["tags"] == [{"key": "env", "value": "prod"}]
    assert body["resources"] == made["resources"]
    assert body["service_description"] == made["service_description"]
    stale = call(client, "PUT", path, write, edit)
    assert stale.status_code == 409
    assert "changed since you opened it" in json.loads(stale.content)["detail"]
    wrong = call(client, "PUT", path, write, {"revision": body["revision"], "region_id": "x"})
    assert wrong.status_code == 422 and "region_id" in errors_of(wrong)
    call(client, "POST", f"{path}/submit", write)
    pending = call(client, "PUT", path, write, {"revision": body["revision"] + 1})
    assert pending.status_code == 409
