"""Each view: the happy path, the wrong method, another user's object, page versus fragment."""

import re

import pytest

from portal.service_requests.models import ServiceRequest, State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db

GET_VIEWS = ["/requests/{pk}/", "/requests/{pk}/status/", "/requests/{pk}/edit/"]
POST_VIEWS = [
    "/requests/{pk}/submit/",
    "/requests/{pk}/validate/",
    "/requests/{pk}/clone/",
    "/requests/{pk}/approve/",
    "/requests/{pk}/reject/",
    "/requests/{pk}/send-back/",
]


def test_anonymous_users_are_sent_to_login(client):
    for path in ["/", "/requests/new/", "/approvals/", "/requests/1/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("path", POST_VIEWS)
def test_post_views_refuse_get(login, requester, path):
    request = ServiceRequestFactory(requester=requester)
    assert login(requester).get(path.format(pk=request.pk)).status_code == 405


@pytest.mark.parametrize("path", ["/requests/{pk}/", "/requests/{pk}/status/"])
def test_get_views_refuse_post(login, requester, path):
    request = ServiceRequestFactory(requester=requester)
    assert login(requester).post(path.format(pk=request.pk)).status_code == 405


@pytest.mark.parametrize("path", ["/", "/approvals/"])
def test_list_views_refuse_post(login, approver, path):
    assert login(approver).post(path).status_code == 405


@pytest.mark.parametrize("path", GET_VIEWS)
def test_another_requesters_request_is_not_found_by_get(login, requester, requester2, path):
    request = ServiceRequestFactory(requester=requester)
    assert login(requester2).get(path.format(pk=request.pk)).status_code == 404


@pytest.mark.parametrize("path", POST_VIEWS)
def test_another_requesters_request_is_not_found_by_post(login, requester, requester2, path):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    response = login(requester2).post(path.format(pk=request.pk), {"comment": "x"})
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL
    assert ServiceRequest.objects.count() == 1


def test_requesters_see_only_their_own_requests(login, requester, requester2):
    mine = ServiceRequestFactory(requester=requester, service_description="Mine")
    ServiceRequestFactory(requester=requester2, service_description="Theirs")
    html = login(requester).get("/").content.decode()
    assert "Mine" in html
    assert "Theirs" not in html
    assert f'href="/requests/{mine.pk}/"' in html


def test_approvers_and_auditors_can_read_any_request(login, requester, approver, auditor):
    request = ServiceRequestFactory(requester=requester)
    for user in (approver, auditor):
        assert login(user).get(f"/requests/{request.pk}/").status_code == 200


def test_approver_cannot_edit_or_submit_someone_elses_request(login, requester, approver):
    request = ServiceRequestFactory(requester=requester)
    client = login(approver)
    assert client.get(f"/requests/{request.pk}/edit/").status_code == 403
    assert client.post(f"/requests/{request.pk}/submit/").status_code == 403
    assert client.post(f"/requests/{request.pk}/cancel/").status_code == 403


def test_detail_page_and_its_status_fragment(login, requester):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    client = login(requester)
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "<html" in page
    assert 'data-status="pending_approval"' in page
    fragment = client.get(f"/requests/{request.pk}/", headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="status"')
    assert 'data-status="pending_approval"' in html
    assert 'hx-trigger="every 2s"' in html
    status = client.get(f"/requests/{request.pk}/status/")
    assert status.status_code == 200
    csrf = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert csrf.sub(b"", status.content) == csrf.sub(b"", fragment.content)


@pytest.mark.parametrize("state", [State.ACTIVE, State.REJECTED, State.CANCELLED, State.DRAFT])
def test_status_fragment_stops_polling_where_only_its_requester_moves_it(login, requester, state):
    request = ServiceRequestFactory(requester=requester, state=state)
    response = login(requester).get(
        f"/requests/{request.pk}/status/", headers={"HX-Request": "true"}
    )
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


@pytest.mark.parametrize(
    ("state", "every"), [(State.FAILED, "5s"), (State.CHANGES_REQUESTED, "10s")]
)
def test_a_page_keeps_polling_slowly_where_someone_else_may_move_it(
    login, requester, approver, state, every
):
    """An approver's retry of a failed request; the requester's resubmission of one sent back."""
    request = ServiceRequestFactory(requester=requester, state=state)
    response = login(approver).get(f"/requests/{request.pk}/status/")
    assert response.status_code == 200
    assert f'hx-trigger="every {every}"' in response.content.decode()


def test_edit_prefills_and_saves(login, requester):
    request = ServiceRequestFactory(requester=requester, tags=[("team", "a")])
    client = login(requester)
    html = client.get(f"/requests/{request.pk}/edit/").content.decode()
    assert 'value="nlb-hz0000000000000001"' in html
    assert 'value="team"' in html
    assert "please correct" not in html
    data = {
        "region_id": "cn-hangzhou",
        "service_description": "Renamed",
        "service_resource_type": "nlb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "justification": "x",
        "resources-TOTAL_FORMS": "1",
        "resources-INITIAL_FORMS": "0",
        "resources-0-resource_type": "nlb",
        "resources-0-resource_id": "nlb-hz0000000000000001",
        "resources-0-zone_id": "cn-hangzhou-i",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
        "action": "draft",
    }
    response = client.post(f"/requests/{request.pk}/edit/", data)
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.service_description == "Renamed"
    assert request.resources.get().zone_id == "cn-hangzhou-i"
    assert not request.tags.exists()
    assert request.events.get(action="edited").details["changed"] == [
        "justification",
        "resources",
        "service_description",
        "tags",
    ]


def test_edit_is_refused_once_submitted(login, requester):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    response = login(requester).get(f"/requests/{request.pk}/edit/")
    assert response.status_code == 302
    assert response.url == f"/requests/{request.pk}/"


def test_new_then_submit_in_one_post(login, requester, approver):
    data = {
        "region_id": "cn-hangzhou",
        "service_description": "Straight to approval",
        "service_resource_type": "nlb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "justification": "Needed for checkout.",
        "resources-TOTAL_FORMS": "2",
        "resources-INITIAL_FORMS": "0",
        "resources-0-resource_type": "nlb",
        "resources-0-resource_id": "nlb-hz0000000000000001",
        "resources-0-zone_id": "cn-hangzhou-h",
        "resources-1-resource_type": "nlb",
        "resources-1-resource_id": "nlb-hzpool000001",
        "resources-1-zone_id": "cn-hangzhou-i",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
        "action": "submit",
    }
    response = login(requester).post("/requests/new/", data)
    request = ServiceRequest.objects.get()
    assert response.url == f"/requests/{request.pk}/"
    assert request.state == State.PENDING_APPROVAL
    assert request.dry_run_code == "DryRunOperation"
    assert [e.action for e in request.events.all()] == ["created", "dry_run", "submit"]
    dry_run = request.events.get(action="dry_run").details["cloud_call"]
    assert dry_run["action"] == "CreateVpcEndpointService"
    assert dry_run["outcome"] == "DryRunOperation"
    assert dry_run["request_id"]
    assert dry_run["parameters"]["DryRun"] is True


def test_validate_on_detail_page_fragment_and_full(login, requester):
    request = ServiceRequestFactory(requester=requester)
    client = login(requester)
    fragment = client.post(f"/requests/{request.pk}/validate/", headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section id="dry-run"')
    assert 'data-dry-run="DryRunOperation"' in html
    full = client.post(f"/requests/{request.pk}/validate/", follow=True)
    assert "Dry run: The cloud would accept this request." in full.content.decode()
    request.refresh_from_db()
    assert request.dry_run_ok is True


def test_clone_makes_a_new_draft_for_the_cloner(login, requester, approver):
    source = ServiceRequestFactory(requester=requester, state=State.REJECTED, tags=[("team", "x")])
    response = login(approver).post(f"/requests/{source.pk}/clone/")
    clone = ServiceRequest.objects.exclude(pk=source.pk).get()
    assert response.url == f"/requests/{clone.pk}/edit/"
    assert clone.requester == approver
    assert clone.state == State.DRAFT
    assert clone.client_token != source.client_token
    assert [(t.key, t.value) for t in clone.tags.all()] == [("team", "x")]
    assert clone.resources.get().resource_id == "nlb-hz0000000000000001"


def test_requester2_cannot_clone_requesters_request(login, requester, requester2):
    source = ServiceRequestFactory(requester=requester)
    assert login(requester2).post(f"/requests/{source.pk}/clone/").status_code == 404


def test_missing_request_is_404(login, approver):
    assert login(approver).get("/requests/999999/").status_code == 404


def test_login_page_and_demo_logins(client, db, settings):
    """The demo users sign in at the demo provider (tests/accounts/test_oidc.py); here, only the
    break-glass account has a password."""
    from django.core.management import call_command

    settings.DEBUG = True
    settings.BREAK_GLASS_USERS = ["breakglass"]
    call_command("seed_demo")
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "approver", "password": "portal-demo"})
    assert response.status_code == 200
    response = client.post(
        "/accounts/login/", {"username": "breakglass", "password": "portal-demo"}
    )
    assert response.status_code == 302
    assert 'id="pending-count"' in client.get("/").content.decode()


def test_seed_demo_refuses_outside_the_embedded_setup(db, settings):
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    with pytest.raises(CommandError, match="embedded"):
        call_command("seed_demo")


def test_an_edit_from_a_stale_tab_is_refused_and_keeps_what_was_typed(login, requester):
    request = ServiceRequestFactory(requester=requester, service_description="first")
    client = login(requester)
    stale = client.get(f"/requests/{request.pk}/edit/").content.decode()
    assert f'name="revision" value="{request.revision}"' in stale
    data = {
        "region_id": "cn-hangzhou",
        "service_description": "from the second tab",
        "service_resource_type": "nlb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "justification": "x",
        "revision": request.revision,
        "resources-TOTAL_FORMS": "1",
        "resources-INITIAL_FORMS": "0",
        "resources-0-resource_type": "nlb",
        "resources-0-resource_id": "nlb-hz0000000000000001",
        "resources-0-zone_id": "cn-hangzhou-h",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
        "action": "draft",
    }
    assert client.post(f"/requests/{request.pk}/edit/", data).status_code == 302
    data["service_description"] = "from the first tab"
    response = client.post(f"/requests/{request.pk}/edit/", data)
    assert response.status_code == 409
    assert "changed since you opened it" in response.content.decode()
    assert 'value="from the first tab"' in response.content.decode()
    request.refresh_from_db()
    assert request.service_description == "from the second tab"
