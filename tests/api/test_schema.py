"""The API's OpenAPI schema says what the API does: the values of its closed sets, every
answer an operation can give, what its exports are and the shape of its pages; and a client
generated from it builds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.endpoint_services.models import ServiceStatus
from portal.service_requests.models import Decision, Kind, Payer, State
from tests.support.api import call, token

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_client_generated_from_the_schema_builds_without_warnings(client, tmp_path):
    """openapi-python-client, with the configuration docs/pipeline.md names, makes a client
    of every operation and says nothing; the client imports."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(client.get("/api/v1/openapi.json").content)
    tools = Path(sys.executable).parent  # the generator, and the ruff it formats with
    result = subprocess.run(
        [
            tools / "openapi-python-client",
            "generate",
            "--path",
            schema,
            "--output-path",
            tmp_path / "client",
            "--config",
            ROOT / "docs" / "openapi-client.yaml",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not [line for line in output.splitlines() if "warning" in line.lower()], output
    probe = (
        "import importlib, pkgutil, private_link_portal_api_client as client\n"
        "for module in pkgutil.walk_packages(client.__path__, client.__name__ + '.'):\n"
        "    importlib.import_module(module.name)\n"
        "from private_link_portal_api_client.api.audit import portal_api_api_history_jsonl\n"
        "from private_link_portal_api_client.models import Kind, State\n"
        "assert [s.value for s in State] and [k.value for k in Kind]\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "client", check=True)
