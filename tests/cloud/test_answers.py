"""Answers the contract does not allow: recorded, and handled as what they are, at once.

A stub stands in for the cloud here (the boundary the portal does not own): the simulator
only ever answers as the API says, and these answers are what a broken cloud or proxy says.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.provisioning import services as provisioning
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db
GOOD_ID = "epsrv-aaaaaaaaaaaaaaaaaaaa"


class Stub(BaseHTTPRequestHandler):
    answers = {}

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(self.answers[self.headers["x-acs-action"]]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_cloud(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.PRIVATELINK_ENDPOINT = f"127.0.0.1:{server.server_address[1]}"
    yield Stub.answers
    server.shutdown()
    server.server_close()


def created(**overrides):
    return {
        "RequestId": "0D7A0C2A-8B53-4B33-9C2E-3A1F1B7E6B11",
        "ServiceId": GOOD_ID,
        "ServiceName": f"com.aliyuncs.privatelink.cn-hangzhou.{GOOD_ID}",
        "ServiceStatus": "Creating",
        **overrides,
    }


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"ServiceId": None}, "no valid ServiceId (got None)"),
        ({"ServiceId": "epsrv-" + "a" * 75}, "no valid ServiceId"),
        ({"ServiceStatus": "Deleted"}, "ServiceStatus 'Deleted' is not one the API knows"),
    ],
)
def test_a_create_answer_the_contract_does_not_allow_fails_at_once(
    requester, stub_cloud, answer, said
):
    stub_cloud["CreateVpcEndpointService"] = created(**answer)
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    assert provisioning.service_request_provision(pk=request.pk) is None
    request.refresh_from_db()
    assert request.state == State.FAILED
    assert request.error_code == provisioning.INVALID_ANSWER_CODE
    assert said in request.error_message
    call = request.events.get(action="cloud_call")
    assert call.details["cloud_call"]["outcome"] == "InvalidAnswer"
    assert said in call.details["problem"]
    assert request.endpoint_service is None


def test_a_poll_that_says_deleted_fails_at_once(requester, stub_cloud):
    stub_cloud["CreateVpcEndpointService"] = created()
    stub_cloud["GetVpcEndpointServiceAttribute"] = created(ServiceStatus="Deleting")
    request = ServiceRequestFactory(requester=requester, state=State.APPROVED)
    assert provisioning.service_request_provision(pk=request.pk) is not None
    assert provisioning.service_request_poll(pk=request.pk) is None
    request.refresh_from_db()
    assert request.state == State.FAILED
    assert "the cloud says the service is Deleting while it is created" in request.error_message
    assert request.events.filter(
        action="cloud_call", details__cloud_call__outcome="InvalidAnswer"
    ).exists()
