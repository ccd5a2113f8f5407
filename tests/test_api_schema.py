"""The API's OpenAPI schema says what the API does: the values of its closed sets, and the
shape of its pages."""

import json

import pytest

from portal.endpoint_services.models import ServiceStatus
from portal.service_requests.models import Decision, Kind, Payer, State

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(client):
    return json.loads(client.get("/api/v1/openapi.json").content)


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


def test_pages_are_numbered_from_one_and_say_whether_another_follows(document):
    listing = document["paths"]["/api/v1/requests"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["page"]
    assert listing["parameters"][0]["schema"]["default"] == 1
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    shape = component(document, page.rsplit("/", 1)[1])
    assert list(shape["properties"]) == ["items", "page", "has_next"]
    counted = component(document, "PagedAllowedAccount")
    assert list(counted["properties"]) == ["items", "page", "has_next", "count"]
