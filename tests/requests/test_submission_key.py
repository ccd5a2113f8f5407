"""Each form render carries a one-time key: the same render sent again (the back button, a
double click, a retry after a lost answer) leads to the request it filed, and files nothing."""

import re
import uuid

import pytest

from portal.service_requests.models import ServiceRequest, State

pytestmark = pytest.mark.django_db

CREATE = {
    "region_id": "cn-hangzhou",
    "service_description": "Orders API",
    "service_resource_type": "nlb",
    "address_ip_version": "IPv4",
    "payer": "Endpoint",
    "justification": "Needed for checkout.",
    "resources-TOTAL_FORMS": "1",
    "resources-INITIAL_FORMS": "0",
    "resources-0-resource_type": "nlb",
    "resources-0-resource_id": "nlb-hz0000000000000001",
    "resources-0-zone_id": "cn-hangzhou-h",
    "tags-TOTAL_FORMS": "0",
    "tags-INITIAL_FORMS": "0",
}


def key_of(page):
    return re.search(r'name="submission_key" value="([0-9a-f-]{36})"', page).group(1)


def test_each_render_of_the_form_carries_its_own_key(login, requester):
    client = login(requester)
    first = key_of(client.get("/requests/new/").content.decode())
    second = key_of(client.get("/requests/new/").content.decode())
    assert uuid.UUID(first) and first != second


def test_a_form_being_built_keeps_its_key(login, requester):
    client = login(requester)
    key = key_of(client.get("/requests/new/").content.decode())
    page = client.post(
        "/requests/new/",
        {**CREATE, "submission_key": key, "action": "add-tag"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert key_of(page) == key


def test_the_same_render_sent_twice_files_one_request_and_leads_to_it(login, requester, simulator):
    client = login(requester)
    key = key_of(client.get("/requests/new/").content.decode())
    made = client.post("/requests/new/", {**CREATE, "submission_key": key, "action": "submit"})
    request = ServiceRequest.objects.get()
    assert made.url == f"/requests/{request.pk}/"
    again = client.post(
        "/requests/new/",
        {**CREATE, "service_description": "Changed", "submission_key": key, "action": "submit"},
        follow=True,
    )
    assert ServiceRequest.objects.count() == 1
    assert again.redirect_chain[0][0] == f"/requests/{request.pk}/"
    page = again.content.decode()
    assert f"This form was sent already: request #{request.pk} is what it filed" in page
    assert request.events.filter(action="created").count() == 1
    request.refresh_from_db()  # a submitted request is not edited by a second send
    assert (request.state, request.service_description) == (State.PENDING_APPROVAL, "Orders API")


def test_the_same_render_sent_again_while_its_draft_stands_goes_to_that_draft(
    login, requester, simulator
):
    """Save draft, Back, an edit, Submit: what was typed reaches the draft, which is sent."""
    client = login(requester)
    key = key_of(client.get("/requests/new/").content.decode())
    client.post("/requests/new/", {**CREATE, "submission_key": key, "action": "draft"})
    draft = ServiceRequest.objects.get()
    again = client.post(
        "/requests/new/",
        {
            **CREATE,
            "service_description": "Orders API v2",
            "submission_key": key,
            "action": "submit",
        },
        follow=True,
    )
    assert ServiceRequest.objects.count() == 1
    assert again.redirect_chain[0][0] == f"/requests/{draft.pk}/"
    assert f"it filed request #{draft.pk}, which now holds what you typed" in again.content.decode()
    draft.refresh_from_db()
    assert (draft.state, draft.service_description) == (State.PENDING_APPROVAL, "Orders API v2")


def test_another_render_files_another_request(login, requester):
    client = login(requester)
    for _ in range(2):
        key = key_of(client.get("/requests/new/").content.decode())
        client.post("/requests/new/", {**CREATE, "submission_key": key, "action": "draft"})
    assert ServiceRequest.objects.count() == 2


def test_someone_elses_key_files_a_request_of_ones_own(login, requester, requester2):
    key = str(uuid.uuid4())
    login(requester).post("/requests/new/", {**CREATE, "submission_key": key, "action": "draft"})
    login(requester2).post("/requests/new/", {**CREATE, "submission_key": key, "action": "draft"})
    theirs, mine = ServiceRequest.objects.order_by("pk")
    assert (theirs.requester, mine.requester) == (requester, requester2)
    assert str(theirs.submission_key) == key and mine.submission_key is None


def test_a_form_about_a_service_sent_twice_files_once(login, requester, service):
    client = login(requester)
    path = f"/services/{service.service_id}/access/"
    key = key_of(client.get(path).content.decode())
    form = {"account_id": "1000000000000009", "justification": "Their VPC needs it."}
    made = client.post(path, {**form, "submission_key": key})
    request = ServiceRequest.objects.get(kind="access")
    assert made.url == f"/requests/{request.pk}/"
    again = client.post(path, {**form, "submission_key": key}, follow=True)
    assert ServiceRequest.objects.filter(kind="access").count() == 1
    assert "This form was sent already" in again.content.decode()


def test_a_form_sent_without_a_key_still_files(login, requester):
    made = login(requester).post("/requests/new/", {**CREATE, "action": "draft"})
    assert made.status_code == 302
    assert ServiceRequest.objects.get().submission_key is None
