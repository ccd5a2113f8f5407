"""The API's OpenAPI schema says what the API does: the values of its closed sets, every
answer an operation can give, what its exports are, and the shape of its pages."""

import json

import pytest

from portal.endpoint_services.models import ServiceStatus
from portal.service_requests.models import Decision, Kind, Payer, State
from tests.api import call, token

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(client):
    return json.loads(client.get("/api/v1/openapi.json").content)


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def component(document, name):
    return document["components"]["schemas"][name]


def test_states_and_kinds_are_listed_with_their_values(document):
    assert component(document, "State")["enum"] == State.values
    assert component(document, "Kind")["enum"] == Kind.values
    assert component(document, "Decision")["enum"] == Decision.values
    assert component(document, "Payer")["enum"] == Payer.values
    assert component(document, "ServiceStatus")["enum"] == ServiceStatus.values
    summary = component(document, "RequestSummary")["properties"]
    assert summary["state"]["$ref"] == "#/components/schemas/State"
    assert summary["kind"]["$ref"] == "#/components/schemas/Kind"
    decision = component(document, "ApprovalOut")["properties"]["decision"]
    assert decision["$ref"] == "#/components/schemas/Decision"


def test_the_history_filters_list_the_states_and_kinds_they_take(document):
    history = document["paths"]["/api/v1/audit/requests"]["get"]
    parameters = {p["name"]: p["schema"] for p in history["parameters"]}
    assert parameters["state"]["items"]["enum"] == State.values
    assert parameters["kind"]["items"]["enum"] == Kind.values


def test_every_operation_documents_the_answer_to_a_malformed_call(document):
    """400: a NUL character in the URL (answered before any operation runs), and a body that
    is not JSON for the operations that take one. test_api.py checks the other errors."""
    for name, operation in operations(document):
        malformed = operation["responses"]["400"]["content"]
        assert malformed["text/plain"]["schema"] == {"type": "string"}, name
        body = malformed.get("application/json")
        if "requestBody" in operation:
            assert body["schema"]["$ref"] == "#/components/schemas/Error", name
        else:
            assert body is None, name


def test_a_nul_character_is_answered_as_the_schema_says(client, requester, document):
    response = call(client, "GET", "requests?page=%00", token(requester, "read"))
    assert response.status_code == 400
    documented = document["paths"]["/api/v1/requests"]["get"]["responses"]["400"]["content"]
    assert response["Content-Type"].split(";")[0] in documented


def test_a_body_that_is_not_json_is_answered_as_the_schema_says(client, requester, document):
    response = client.post(
        "/api/v1/requests",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token(requester)}",
    )
    assert response.status_code == 400
    assert json.loads(response.content) == {"detail": "Cannot parse request body", "errors": []}
    documented = document["paths"]["/api/v1/requests"]["post"]["responses"]["400"]["content"]
    assert "application/json" in documented


def test_the_exports_are_strings_of_their_media_types(document):
    for path, media_type in (("csv", "text/csv"), ("jsonl", "application/x-ndjson")):
        answer = document["paths"][f"/api/v1/audit/export.{path}"]["get"]["responses"]["200"]
        assert answer["content"] == {media_type: {"schema": {"type": "string"}}}


def test_pages_are_numbered_from_one_and_say_whether_another_follows(document):
    listing = document["paths"]["/api/v1/requests"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["page"]
    assert listing["parameters"][0]["schema"]["default"] == 1
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    shape = component(document, page.rsplit("/", 1)[1])
    assert list(shape["properties"]) == ["items", "page", "has_next"]
    counted = component(document, "PagedAllowedAccount")
    assert list(counted["properties"]) == ["items", "page", "has_next", "count"]
