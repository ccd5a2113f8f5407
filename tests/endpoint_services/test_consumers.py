"""Consumers: the catalog, access requests and revokes, connections accepted and rejected.

Every step goes through the pages (the test client), the portal's worker steps in-process and
the official SDK over HTTP against the simulator, as the consumer (its own keys) and the owner.
"""

import html
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from alibabacloud_privatelink20200415 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from django.core import mail
from django.utils import timezone

from portal.approvals import policy
from portal.cloud import services as cloud
from portal.endpoint_services import connections
from portal.endpoint_services.models import EndpointConnection, EndpointService
from portal.endpoint_services.services import endpoint_service_refresh
from portal.provisioning import services as provisioning
from portal.requests import services
from portal.service_requests import exceptions
from portal.service_requests.models import Kind, ServiceRequest, State
from tests.support.day2 import REGION, run

pytestmark = pytest.mark.django_db
CONSUMER = "1000000000000003"
CONSUMER_KEYS = ("consumer-access-key-id", "consumer-access-key-secret")


def ask_access(client, service, account=CONSUMER, justification="Billing reads orders."):
    return client.post(
        f"/services/{service.service_id}/access/",
        {"account_id": account, "justification": justification, "action": "submit"},
    )


def decide(client, service_request, decision="approve"):
    service_request.refresh_from_db()
    return client.post(
        f"/requests/{service_request.pk}/{decision.replace('_', '-')}/",
        {
            "revision": service_request.revision,
            "digest": service_request.digest(),
            "comment": "fine",
        },
    )


def create_endpoint(simulator, service, vpc="vpc-consumer1"):
    consumer = simulator.make_client(*CONSUMER_KEYS)
    return consumer.create_vpc_endpoint(
        models.CreateVpcEndpointRequest(
            region_id=REGION,
            service_name=service.service_name,
            vpc_id=vpc,
            security_group_id=["sg-consumer1"],
            zone=[
                models.CreateVpcEndpointRequestZone(
                    zone_id=service.zones[0], v_switch_id="vsw-consumer1"
                )
            ],
        )
    ).body


def allow_list(simulator, service):
    body = simulator.client.list_vpc_endpoint_service_users(
        models.ListVpcEndpointServiceUsersRequest(region_id=REGION, service_id=service.service_id)
    ).body
    return sorted(str(u.user_id) for u in body.users)


def grant(client_for, service, requester2, owner, account=CONSUMER):
    """requester2 asks access for `account`; the owner approves; the worker applies it."""
    response = ask_access(client_for(requester2), service, account)
    assert response.status_code == 302, response.content.decode()[-2000:]
    asked = ServiceRequest.objects.get(kind=Kind.ACCESS, account_id=account)
    assert decide(client_for(owner), asked).status_code == 302
    asked.refresh_from_db()
    assert asked.state == State.APPROVED
    run(provisioning.service_request_apply, asked.pk)
    asked.refresh_from_db()
    return asked


@pytest.fixture
def client_for(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def test_the_catalog_shows_every_service_with_its_name_to_everyone(client_for, service, requester2):
    page = client_for(requester2).get("/services/?q=Orders").content.decode()
    assert service.service_id in page
    assert service.service_name in page
    assert "team=orders" in page
    # The row's description leads to the service too, not only its grey ServiceId chip; the
    # filters are a search landmark drawn as a form (not the framework's joined pill).
    link = f'<a href="/services/{service.service_id}/">{service.service_description}</a>'
    assert link in page
    assert '<search><form method="get" class="filters">' in page
    assert 'role="search"' not in page
    detail = html.unescape(
        client_for(requester2).get(f"/services/{service.service_id}/").content.decode()
    )
    assert "How to connect" in detail
    assert f'service_name       = "{service.service_name}"' in detail
    assert f"--ServiceName {service.service_name}" in detail
    assert f"/services/{service.service_id}/access/" in detail
    # The allow-list and the connections are for the service's keepers.
    assert 'id="connections" hidden' in detail


def test_an_owner_approves_access_and_the_consumer_connects(
    client_for, service, requester, requester2, simulator, django_capture_on_commit_callbacks
):
    consumer = simulator.make_client(*CONSUMER_KEYS)
    with pytest.raises(ClientException) as refused:
        create_endpoint(simulator, service)
    assert refused.value.code == "EndpointServiceNotAuthorized"
    with django_capture_on_commit_callbacks(execute=True):
        response = ask_access(client_for(requester2), service)
    asked = ServiceRequest.objects.get(kind=Kind.ACCESS)
    assert response.url == f"/requests/{asked.pk}/"
    assert asked.state == State.PENDING_APPROVAL
    assert asked.requester == requester2
    assert [op.action for op in asked.operations.all()] == ["AddUserToVpcEndpointService"]
    assert str(policy.required_approvals(asked)) == "needs 1 approval"
    # The owner is told, and decides (no approver needed); the asker cannot.
    told = [m for m in mail.outbox if requester.email in m.to]
    assert f"that account {CONSUMER} may connect to {service.service_name}" in told[-1].body
    assert policy.decision_refusal(requester, asked) is None
    assert (
        policy.decision_refusal(requester2, asked)
        == "This request is for the service's owner or the platform's approvers to decide."
    )
    mail.outbox.clear()
    assert decide(client_for(requester), asked).status_code == 302
    run(provisioning.service_request_apply, asked.pk)
    asked.refresh_from_db()
    assert asked.state == State.APPLIED
    assert allow_list(simulator, service) == [CONSUMER]
    service.refresh_from_db()
    assert service.allowed_users == [CONSUMER]
    assert service.approved["allowed_users"] == [CONSUMER]
    assert endpoint_service_refresh(pk=service.pk).drifted is False
    endpoint = create_endpoint(simulator, service)
    assert (
        consumer.get_vpc_endpoint_attribute(
            models.GetVpcEndpointAttributeRequest(
                region_id=REGION, endpoint_id=endpoint.endpoint_id
            )
        ).body.connection_status
        == "Disconnected"
    )
    # The allow-list on the owner's page says who asked, and when.
    page = client_for(requester).get(f"/services/{service.service_id}/").content.decode()
    assert f"#{asked.pk}</a> by {requester2.username}" in page
    # The owner gives access; only others are told to ask for it.
    assert "Give an account access" in page and "ask for access</a> first" not in page


def test_an_account_id_that_is_not_one_is_refused_at_the_field(client_for, service, requester2):
    response = ask_access(client_for(requester2), service, account="12345")
    assert response.status_code == 400
    assert "An Alibaba Cloud account id is 16 digits" in response.content.decode()
    assert 'value="12345"' in response.content.decode()
    assert not ServiceRequest.objects.filter(kind=Kind.ACCESS).exists()


def test_the_same_account_twice_is_refused_naming_the_earlier_request(
    client_for, service, requester, requester2, simulator
):
    ask_access(client_for(requester2), service)
    first = ServiceRequest.objects.get(kind=Kind.ACCESS)
    again = ask_access(client_for(requester), service)
    assert again.status_code == 409
    assert f"request #{first.pk} (pending approval)" in again.content.decode()
    assert ServiceRequest.objects.filter(kind=Kind.ACCESS).count() == 1
    decide(client_for(requester), first)
    run(provisioning.service_request_apply, first.pk)
    once_more = ask_access(client_for(requester), service)
    assert once_more.status_code == 409
    assert f"already has access to this service: request #{first.pk}" in once_more.content.decode()
    # Someone who does not look after the service learns no request number, date or list.
    outsider = ask_access(client_for(requester2), service).content.decode()
    assert f"Account {CONSUMER} already has access to this service, or is already asked" in (
        html.unescape(outsider)
    )
    assert f"#{first.pk}" not in outsider.split("<main")[1].split("</form>")[0]


def test_someone_elses_draft_blocks_nobody(client_for, service, requester, requester2):
    draft = client_for(requester2).post(
        f"/services/{service.service_id}/access/",
        {"account_id": CONSUMER, "justification": "later", "action": "draft"},
    )
    assert draft.status_code == 302
    # The drafter is pointed at their own draft; anyone else may ask.
    again = ask_access(client_for(requester2), service)
    assert again.status_code == 409
    assert ask_access(client_for(requester), service).status_code == 302


def test_an_account_added_in_the_console_is_drift_and_named_so(
    client_for, service, requester, simulator
):
    from tests.endpoint_services.test_day2 import console

    console(simulator, "allow", service.service_id, CONSUMER)  # the README tour's command
    refreshed = endpoint_service_refresh(pk=service.pk)
    assert refreshed.drifted
    assert f"+ allow-list: account {CONSUMER}" in refreshed.drift
    page = client_for(requester).get(f"/services/{service.service_id}/").content.decode()
    assert "added outside the portal" in page
    asked = ask_access(client_for(requester), service)
    assert asked.status_code == 409
    assert "already on the allow-list (added outside the portal)" in asked.content.decode()


def test_access_for_every_account_needs_two_approvers_and_not_the_owner(
    client_for, service, requester, requester2, approver, approver2, simulator
):
    ask_access(client_for(requester2), service, account="*")
    asked = ServiceRequest.objects.get(kind=Kind.ACCESS)
    requirement = policy.required_approvals(asked)
    assert requirement.needed == 2
    assert "it lets every Alibaba Cloud account connect" in str(requirement)
    assert policy.decision_refusal(requester, asked) == (
        "Access for every account is for the approvers to decide."
    )
    assert decide(client_for(requester), asked).status_code == 403
    decide(client_for(approver), asked)
    asked.refresh_from_db()
    assert asked.state == State.PENDING_APPROVAL
    decide(client_for(approver2), asked)
    run(provisioning.service_request_apply, asked.pk)
    asked.refresh_from_db()
    assert asked.state == State.APPLIED
    arns = simulator.client.list_vpc_endpoint_service_users(
        models.ListVpcEndpointServiceUsersRequest(
            region_id=REGION, service_id=service.service_id, user_list_type="UserARNs"
        )
    ).body.user_arns
    assert [a.user_arn for a in arns] == ["acs:ram:*:*:*"]


def test_revoke_takes_the_account_off_the_list(
    client_for, service, requester, requester2, approver, simulator
):
    grant(client_for, service, requester2, requester)
    assert client_for(requester2).get(f"/services/{service.service_id}/revoke/").status_code == 403
    response = client_for(requester).post(
        f"/services/{service.service_id}/revoke/",
        {"account_id": CONSUMER, "justification": "Billing moved away.", "action": "submit"},
    )
    revoke = ServiceRequest.objects.get(kind=Kind.REVOKE)
    assert response.url == f"/requests/{revoke.pk}/"
    assert [op.action for op in revoke.operations.all()] == ["RemoveUserFromVpcEndpointService"]
    # The owner asked: an approver decides, once.
    assert policy.decision_refusal(requester, revoke) == "You cannot decide your own request."
    decide(client_for(approver), revoke)
    run(provisioning.service_request_apply, revoke.pk)
    revoke.refresh_from_db()
    assert revoke.state == State.APPLIED
    assert allow_list(simulator, service) == []
    service.refresh_from_db()
    assert service.allowed_users == [] and service.approved["allowed_users"] == []
    with pytest.raises(ClientException) as refused:
        create_endpoint(simulator, service)
    assert refused.value.code == "EndpointServiceNotAuthorized"
    # Access may be asked again, now that it is gone.
    assert ask_access(client_for(requester2), service).status_code == 302


def test_an_access_request_racing_a_revoke(
    client_for, service, requester, requester2, approver, simulator
):
    pending = ask_access(client_for(requester2), service)
    assert pending.status_code == 302
    # Not on the list yet: nothing to revoke.
    with pytest.raises(exceptions.DecisionRefused, match="not on the allow-list"):
        services.revoke_request_create(
            requester=requester, service=service, account_id=CONSUMER, justification="x"
        )
    asked = ServiceRequest.objects.get(kind=Kind.ACCESS)
    decide(client_for(requester), asked)
    run(provisioning.service_request_apply, asked.pk)
    service.refresh_from_db()
    revoke = services.revoke_request_create(
        requester=requester, service=service, account_id=CONSUMER, justification="x"
    )
    services.service_request_submit(service_request=revoke, actor=requester)
    # While the revoke is open, access for the account cannot be asked again...
    again = ask_access(client_for(requester), service)
    assert again.status_code == 409
    assert f"request #{asked.pk}" in again.content.decode()
    # ...and a second revoke names the first.
    with pytest.raises(exceptions.DecisionRefused, match=f"Request #{revoke.pk} \\(revoke"):
        services.revoke_request_create(
            requester=approver, service=service, account_id=CONSUMER, justification="y"
        )


def test_account_requests_do_not_block_changes_nor_each_other(
    client_for, service, requester, requester2, simulator
):
    ask_access(client_for(requester2), service)
    other = ask_access(client_for(requester2), service, account="1000000000000009")
    assert other.status_code == 302
    going = services.decommission_request_create(
        requester=requester, service=service, justification="done"
    )
    # ...but nobody is let in as the service goes: decommission waits for them.
    assert services._submission_refusal(going).startswith("Access request #")


def waiting_connection(client_for, service, requester, requester2, simulator):
    asked = grant(client_for, service, requester2, requester)
    simulator.configure(create_delay=0)
    endpoint = create_endpoint(simulator, service)
    new = connections.connections_read(service)
    assert [c.endpoint_id for c in new] == [endpoint.endpoint_id]
    connection = new[0]
    assert connection.status == "Disconnected"
    assert connection.endpoint_owner_id == CONSUMER
    assert connection.access_request_id == asked.pk
    return connection


def test_a_waiting_connection_is_accepted_and_followed_to_connected(
    client_for, service, requester, requester2, simulator
):
    connection = waiting_connection(client_for, service, requester, requester2, simulator)
    owner = client_for(requester)
    # A page view that reads the connections (its last reading is old)...
    EndpointService.objects.filter(pk=service.pk).update(connections_read_at=None)
    page = owner.get(f"/services/{service.service_id}/").content.decode()
    assert "Waiting for you (Disconnected)" in page
    assert f"#{connection.access_request_id}</a> by {requester2.username}" in page
    accept = f"/services/{service.service_id}/connections/{connection.endpoint_id}/accept/"
    response = owner.post(accept)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.status, connection.pending_action) == ("Connecting", "accept")
    service.refresh_from_db()
    event = service.events.get(action="connection_accepted")
    assert event.actor == requester
    assert event.details["endpoint_id"] == connection.endpoint_id
    assert event.details["cloud_call"]["action"] == "EnableVpcEndpointConnection"
    requested = service.events.get(action="connection_accept_requested")
    assert requested.details["client_token"] == event.details["cloud_call"]["parameters"].get(
        "ClientToken", requested.details["client_token"]
    )
    # ...then the page polls while the connection moves; a poll reads it once the last
    # reading is 2 s old (create delay 0: it is done), whatever the page view left behind.
    live = owner.get(f"/services/{service.service_id}/", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in live.content.decode()
    token = live.content.decode().split("?v=")[1].split('"')[0]
    EndpointService.objects.filter(pk=service.pk).update(
        connections_read_at=timezone.now() - timedelta(seconds=3)
    )
    polled = owner.get(
        f"/services/{service.service_id}/status/?v={token}", headers={"HX-Request": "true"}
    )
    assert polled.status_code == 286  # settled: the answer stops the polling
    connection.refresh_from_db()
    assert (connection.status, connection.pending_action) == ("Connected", "")
    assert 'data-status="Connected"' in polled.content.decode()


def test_a_double_click_on_accept_makes_one_call(
    client_for, service, requester, requester2, simulator, monkeypatch
):
    connection = waiting_connection(client_for, service, requester, requester2, simulator)
    calls = []
    real = cloud.endpoint_connection_decide

    def counted(**kwargs):
        calls.append(kwargs["endpoint_id"])
        return real(**kwargs)

    monkeypatch.setattr(cloud, "endpoint_connection_decide", counted)
    accept = f"/services/{service.service_id}/connections/{connection.endpoint_id}/accept/"
    assert client_for(requester).post(accept).status_code == 302
    second = client_for(requester).post(accept)
    assert second.status_code == 409
    assert "being accepted already" in second.content.decode()
    assert calls == [connection.endpoint_id]


def test_a_rejected_connection_stays_disconnected_and_others_may_not_decide(
    client_for, service, requester, requester2, simulator, django_capture_on_commit_callbacks
):
    connection = waiting_connection(client_for, service, requester, requester2, simulator)
    path = f"/services/{service.service_id}/connections/{connection.endpoint_id}/"
    assert client_for(requester2).post(path + "accept/").status_code == 403
    # Turning a waiting endpoint down: it stays Disconnected, shown as rejected, and the
    # connections pass does not announce it.
    owner = client_for(requester)
    assert owner.post(path + "reject/").status_code == 302
    connection.refresh_from_db()
    assert connection.rejected_by == requester and connection.status == "Disconnected"
    page = owner.get(f"/services/{service.service_id}/").content.decode()
    assert "Waiting for you" not in page and ">Rejected<" in page
    assert f"Turned down {connection.endpoint_id}: it stays disconnected" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert connections.connections_pass() == (1, 0)
    again = client_for(requester).post(path + "reject/")
    assert again.status_code == 409
    assert "rejected already" in again.content.decode()
    # The owner may change their mind.
    client_for(requester).post(path + "accept/")
    connections.connections_read(service)
    connection.refresh_from_db()
    assert connection.status == "Connected"
    disconnected = owner.post(path + "reject/", follow=True).content.decode()
    # A connected endpoint is disconnected, and said so (not "rejected").
    assert f"Disconnecting {connection.endpoint_id}: the cloud disconnects it now" in disconnected
    connections.connections_read(service)
    connection.refresh_from_db()
    assert (connection.status, connection.pending_action) == ("Disconnected", "")
    assert service.events.filter(action="connection_rejected").count() == 2
    assert service.events.filter(action="connection_reject_requested").count() == 2


def test_an_account_revoked_cannot_have_its_waiting_endpoint_accepted(
    client_for, service, requester, requester2, approver, simulator
):
    connection = waiting_connection(client_for, service, requester, requester2, simulator)
    revoke = services.revoke_request_create(
        requester=requester, service=service, account_id=CONSUMER, justification="gone"
    )
    services.service_request_submit(service_request=revoke, actor=requester)
    decide(client_for(approver), revoke)
    run(provisioning.service_request_apply, revoke.pk)
    service.refresh_from_db()
    page = client_for(requester).get(f"/services/{service.service_id}/").content.decode()
    assert "not on the approved allow-list" in page
    accept = f"/services/{service.service_id}/connections/{connection.endpoint_id}/accept/"
    refused = client_for(approver).post(accept)
    assert refused.status_code == 409
    assert f"not on the allow-list the portal approved (revoked by request #{revoke.pk})" in (
        refused.content.decode()
    )
    assert not service.events.filter(action="connection_accept_requested").exists()


def test_the_connections_pass_tells_the_owner_once_per_connection(
    client_for, service, requester, requester2, simulator, django_capture_on_commit_callbacks
):
    grant(client_for, service, requester2, requester)
    simulator.configure(create_delay=0)
    first = create_endpoint(simulator, service)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert connections.connections_pass() == (1, 1)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [requester.email]
    assert first.endpoint_id in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        assert connections.connections_pass() == (1, 0)
    assert len(mail.outbox) == 1
    second = create_endpoint(simulator, service, vpc="vpc-consumer2")
    with django_capture_on_commit_callbacks(execute=True):
        connections.connections_pass()
    assert len(mail.outbox) == 2
    assert second.endpoint_id in mail.outbox[1].body
    assert first.endpoint_id not in mail.outbox[1].body


def test_an_endpoint_deleted_by_its_consumer_is_gone_from_the_page(
    client_for, service, requester, requester2, simulator
):
    connection = waiting_connection(client_for, service, requester, requester2, simulator)
    simulator.make_client(*CONSUMER_KEYS).delete_vpc_endpoint(
        models.DeleteVpcEndpointRequest(region_id=REGION, endpoint_id=connection.endpoint_id)
    )
    connections.connections_read(service)
    connection.refresh_from_db()
    assert connection.gone
    assert EndpointConnection.objects.filter(service=service, gone=False).count() == 0


def test_the_service_page_query_count_does_not_grow_with_connections_or_accounts(
    client_for, requester
):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    def page_queries(rows):
        service = EndpointService.objects.create(
            service_id=f"epsrv-count{rows:017d}",
            region_id=REGION,
            status="active",
            owner=requester,
            service_name=f"com.aliyuncs.privatelink.{REGION}.epsrv-count{rows:017d}",
            allowed_users=[f"{3000000000000000 + n}" for n in range(rows)],
            connections_read_at=timezone.now(),
        )
        EndpointConnection.objects.bulk_create(
            EndpointConnection(
                service=service,
                endpoint_id=f"ep-count{rows:04d}{n:010d}",
                endpoint_owner_id=f"{3000000000000000 + n}",
                status="Connected" if n % 2 else "Disconnected",
            )
            for n in range(rows)
        )
        client = client_for(requester)
        client.get(service.get_absolute_url())
        with CaptureQueriesContext(db) as queries:
            page = client.get(service.get_absolute_url())
        assert page.status_code == 200
        assert page.content.decode().count('<tr id="connection-') == min(rows, 50)
        return len(queries.captured_queries)

    assert page_queries(3) == page_queries(120)


def test_the_tour_consumer_command_connects_only_once_access_is_given(
    client_for, service, requester, requester2, simulator
):
    """The README tour: the consumer, with its own keys and the SDK only, is refused by the
    cloud until the owner approves access; then its endpoint waits for the owner on the page."""
    from tests.endpoint_services.test_day2 import ROOT, console

    refused = subprocess.run(
        [
            sys.executable,
            "scripts/console.py",
            "--consumer",
            "create-endpoint",
            service.service_name,
        ],
        cwd=ROOT,
        env={**os.environ, "PRIVATELINK_ENDPOINT": simulator.endpoint},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "EndpointServiceNotAuthorized" in refused.stderr
    grant(client_for, service, requester2, requester)
    simulator.configure(create_delay=0)
    created = console(simulator, "--consumer", "create-endpoint", service.service_name)
    endpoint_id = created["EndpointId"]
    EndpointService.objects.filter(pk=service.pk).update(connections_read_at=None)
    page = client_for(requester).get(f"/services/{service.service_id}/").content.decode()
    assert f'<tr id="connection-{endpoint_id}" data-status="Disconnected">' in page
    assert "Waiting for you (Disconnected)" in page
    listed = console(simulator, "--consumer", "endpoints")
    assert endpoint_id in json.dumps(listed)


def test_no_access_is_asked_of_a_service_being_decommissioned(
    client_for, service, requester, requester2, approver
):
    going = services.decommission_request_create(
        requester=requester, service=service, justification="done"
    )
    services.service_request_submit(service_request=going, actor=requester)
    response = ask_access(client_for(requester2), service)
    assert response.status_code == 409
    assert f"being decommissioned (request #{going.pk})" in response.content.decode()
