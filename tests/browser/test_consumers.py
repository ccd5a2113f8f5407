"""The consumers' loop in a real browser (make test-browser): the catalog, an access request
the owner approves, the consumer's endpoint (the SDK, its own keys), accepted on the page and
followed to Connected without a reload."""

import re

import pytest
from alibabacloud_privatelink20200415 import models
from playwright.sync_api import expect

from portal.service_requests.models import Kind, ServiceRequest, State
from tests.support.browser import PASSWORD, CspWatch, log_in, shot
from tests.support.day2 import REGION, make_service
from tests.support.factories import UserFactory
from tests.support.workers import running_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CONSUMER = "1000000000000003"


@pytest.fixture
def people(groups):
    return {
        name: UserFactory(username=name, password=PASSWORD) for name in ("requester", "requester2")
    }


def test_a_consumer_asks_the_owner_approves_and_accepts_the_connection(
    live_server, browser, people, simulator, tmp_path
):
    base = live_server.url
    service = make_service(people["requester"])
    watch = CspWatch()

    consumer_team = watch.watch(browser.new_context().new_page())
    log_in(consumer_team, base, "requester2")
    consumer_team.get_by_role("link", name="Services").click()
    consumer_team.get_by_label("ServiceId, ServiceName or description").fill("Orders")
    consumer_team.get_by_role("button", name="Filter").click()
    consumer_team.get_by_role("link", name=service.service_id).click()
    expect(consumer_team.locator("#how-to-connect")).to_contain_text(service.service_name)
    consumer_team.locator("#how-to-connect").get_by_role("button", name="Copy").first.click()
    shot(consumer_team, "service-how-to-connect")
    consumer_team.get_by_role("link", name="Ask for access").first.click()
    consumer_team.get_by_label("Consumer's account id").fill("12345")
    consumer_team.get_by_label("Justification").fill("Billing reads orders.")
    consumer_team.get_by_role("button", name="Ask for access").click()
    expect(consumer_team.locator(".field-error")).to_contain_text("16 digits")
    expect(consumer_team.get_by_label("Justification")).to_have_value("Billing reads orders.")
    consumer_team.get_by_label("Consumer's account id").fill(CONSUMER)
    consumer_team.get_by_role("button", name="Ask for access").click()
    expect(consumer_team.locator("#status")).to_have_attribute("data-status", "pending_approval")

    owner = watch.watch(browser.new_context().new_page())
    log_in(owner, base, "requester")
    expect(owner.locator("#owner-queue")).to_contain_text(CONSUMER)
    owner.locator("#owner-queue").get_by_role("link", name=re.compile("^#")).click()
    with running_worker(simulator.endpoint, tmp_path):
        owner.get_by_role("button", name=re.compile(r"^Approve revision")).click()
        # The asker's page follows the request to applied without a reload.
        expect(consumer_team.locator("#status")).to_have_attribute(
            "data-status", "applied", timeout=30000
        )
    asked = ServiceRequest.objects.get(kind=Kind.ACCESS)
    assert asked.state == State.APPLIED

    # The consumer, with its own keys and the official SDK, connects; the cloud holds the
    # connection (Disconnected) until the owner accepts it.
    simulator.configure(create_delay=1)
    consumer = simulator.make_client("consumer-access-key-id", "consumer-access-key-secret")
    endpoint = consumer.create_vpc_endpoint(
        models.CreateVpcEndpointRequest(
            region_id=REGION,
            service_name=service.service_name,
            vpc_id="vpc-consumer1",
            security_group_id=["sg-consumer1"],
            zone=[
                models.CreateVpcEndpointRequestZone(
                    zone_id=service.zones[0], v_switch_id="vsw-consumer1"
                )
            ],
        )
    ).body
    owner.wait_for_timeout(1500)  # the endpoint goes Active; its connection waits
    owner.goto(f"{base}/services/{service.service_id}/")
    row = owner.locator(f"#connection-{endpoint.endpoint_id}")
    expect(row).to_contain_text("Waiting for you")
    expect(row).to_contain_text(f"#{asked.pk}")
    expect(owner.locator("#allow-list")).to_contain_text("by requester2")
    shot(owner, "service-connections")
    url = owner.url
    row.get_by_role("button", name="Accept").click()
    expect(owner.locator(f"#connection-{endpoint.endpoint_id}")).to_have_attribute(
        "data-status", "Connecting"
    )
    # No reload: the page polls, each poll reads the cloud, and the row walks on.
    expect(owner.locator(f"#connection-{endpoint.endpoint_id}")).to_have_attribute(
        "data-status", "Connected", timeout=20000
    )
    assert owner.url.split("#")[0] == url.split("#")[0]
    assert watch == []
