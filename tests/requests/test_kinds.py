"""Each kind of request is described once (requests.kinds), and its page, its API
endpoint and its service function all read that description."""

import dataclasses
import re

import pytest
from django.template.loader import get_template
from django.urls import resolve, reverse
from django.utils.html import escape

from portal.api.routers.services import PAYLOADS
from portal.endpoint_services.models import EndpointService
from portal.requests import services
from portal.requests.kinds import FORM_KINDS, KINDS
from portal.service_requests import exceptions
from portal.service_requests.models import Kind, ServiceRequest
from tests.support.api import call, token

pytestmark = pytest.mark.django_db

SERVICE_ID = "epsrv-kinds0000000000001"
# A payload each kind's API schema takes; the refusal comes before the form judges it.
PAYLOAD = {
    Kind.CHANGE: {"justification": "Tidy up."},
    Kind.DECOMMISSION: {"justification": "Nobody uses it."},
    Kind.ACCESS: {"account_id": "1000000000000003", "justification": "Orders connect."},
    Kind.REVOKE: {"account_id": "1000000000000003", "justification": "Orders left."},
    Kind.ADOPT: {"owner": "requester", "justification": "We made it by hand."},
    Kind.TRANSFER: {"team": "payments", "justification": "They run it now."},
}
# The cleaned data each kind's service function takes (no form needed to be refused).
CLEANED = {
    Kind.DECOMMISSION: {"justification": "Nobody uses it."},
    Kind.ACCESS: {"account_id": "1000000000000003", "justification": "Orders connect."},
    Kind.REVOKE: {"account_id": "1000000000000003", "justification": "Orders left."},
    Kind.ADOPT: {"owner": None, "team": None, "justification": "We made it by hand."},
    Kind.TRANSFER: {"team": None, "justification": "They run it now."},
}


def test_every_kind_is_described_once_under_its_own_name():
    assert list(KINDS) == list(Kind)
    assert all(description.kind == kind for kind, description in KINDS.items())


def test_every_kind_about_a_service_has_a_page_and_an_api_endpoint_at_its_name():
    assert set(PAYLOADS) == set(Kind) - {Kind.CREATE}
    assert set(FORM_KINDS) == set(Kind) - {Kind.CREATE, Kind.CHANGE}
    for kind in PAYLOADS:
        page = reverse(f"endpoint_services:{kind}", args=[SERVICE_ID])
        assert page == f"/services/{SERVICE_ID}/{kind}/"
        api = reverse(f"api:{kind}", kwargs={"service_id": SERVICE_ID})
        assert api == f"/api/v1/services/{SERVICE_ID}/{kind}"
    for kind in FORM_KINDS:
        match = resolve(f"/services/{SERVICE_ID}/{kind}/")
        assert match.func.__name__ == "service_request_form"
        assert match.kwargs == {"service_id": SERVICE_ID, "kind": kind}


@pytest.mark.parametrize("kind", FORM_KINDS)
def test_what_each_form_holds_its_request_can_keep(kind):
    described = KINDS[kind]
    fields = set(described.form_class.base_fields)
    assert "justification" in fields
    assert fields - {"justification"} <= set(services.FORM_FIELDS)
    assert {described.error_field} - {""} <= fields
    assert set(described.refusal_judges) <= fields
    assert described.refusal is not None
    get_template(described.template)


@pytest.mark.parametrize("kind", [kind for kind in KINDS if KINDS[kind].asked_already])
def test_what_a_kind_says_of_an_open_request_names_it(kind):
    said = KINDS[kind].asked_already.format(pk=41, state="pending approval", team="payments")
    assert said.startswith("Request #41 already asks")
    assert said.endswith("(pending approval).")


def test_the_kinds_with_a_configuration_are_edited_on_the_request_form():
    for kind in (Kind.CREATE, Kind.CHANGE):
        assert not KINDS[kind].has_form
        assert KINDS[kind].template == "service_requests/request_form.html"
    assert KINDS[Kind.CREATE].refusal is None


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_the_page_the_api_and_the_service_refuse_the_same_person_alike(
    kind, client, requester, requester2
):
    """Someone who may see a service but not file this kind about it: the page answers 403
    with the kind's refusal, the API 403 with the same words, the service NotAllowed."""
    service = EndpointService.objects.create(
        service_id=SERVICE_ID,
        region_id="cn-hangzhou",
        # Anyone may ask for access to an active service; to an inactive one, nobody.
        status="deleting" if kind == Kind.ACCESS else "active",
        managed=True,
        owner=requester,
    )
    refusal = KINDS[kind].refusal(requester2, service)
    assert refusal

    client.force_login(requester2)
    page = client.get(reverse(f"endpoint_services:{kind}", args=[SERVICE_ID]))
    assert page.status_code == 403
    assert escape(refusal) in page.content.decode()
    posted = client.post(
        reverse(f"endpoint_services:{kind}", args=[SERVICE_ID]), {"action": "submit"}
    )
    assert posted.status_code == 403

    api = call(client, "POST", f"services/{SERVICE_ID}/{kind}", token(requester2), PAYLOAD[kind])
    assert api.status_code == 403
    assert api.json()["detail"] == refusal

    if kind in CLEANED:
        with pytest.raises(exceptions.NotAllowed, match=re.escape(refusal)):
            services.request_about_service_create(
                kind=kind, requester=requester2, service=service, **CLEANED[kind]
            )
    assert not service.requests.exists()


def test_an_adoption_posted_twice_files_one_request_and_shows_it(login, approver, requester):
    unmanaged = EndpointService.objects.create(
        service_id="epsrv-adopt00000000000001", region_id="cn-hangzhou", managed=False
    )
    client = login(approver)
    form = {"owner": "requester", "justification": "We made it by hand.", "action": "submit"}
    first = client.post(f"/services/{unmanaged.service_id}/adopt/", form)
    second = client.post(f"/services/{unmanaged.service_id}/adopt/", form)
    filed = ServiceRequest.objects.get(kind=Kind.ADOPT)
    assert (first.url, second.url) == (f"/requests/{filed.pk}/", f"/requests/{filed.pk}/")
    page = client.get(second.url).content.decode()
    assert f"Request #{filed.pk} already asks to adopt this service" in page
    answer = call(
        client,
        "POST",
        f"services/{unmanaged.service_id}/adopt",
        token(approver),
        PAYLOAD[Kind.ADOPT],
    )
    assert answer.status_code == 409, answer.content
    assert ServiceRequest.objects.filter(kind=Kind.ADOPT).count() == 1


def test_a_refusal_that_comes_after_the_pages_check_is_a_403_as_in_the_api(
    login, requester, service, monkeypatch
):
    # The service changes between the page's check and the filing (here: the check passes,
    # the service function's refuses), as a decommission filed meanwhile would.
    checks = iter([None, "The service is being deleted."])
    described = dataclasses.replace(
        KINDS[Kind.DECOMMISSION], refusal=lambda *args, **kwargs: next(checks)
    )
    monkeypatch.setitem(KINDS, Kind.DECOMMISSION, described)
    response = login(requester).post(
        f"/services/{service.service_id}/decommission/", {"justification": "Nobody uses it."}
    )
    assert response.status_code == 403
    assert "The service is being deleted." in response.content.decode()
    assert not ServiceRequest.objects.filter(kind=Kind.DECOMMISSION).exists()
