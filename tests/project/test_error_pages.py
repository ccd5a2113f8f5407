"""Styled 403, 404 and 500 pages (in development too), and a confirmation before cancelling."""

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from portal.endpoint_services.models import EndpointService
from portal.service_requests.models import State
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db


def test_a_refusal_is_a_page_that_says_why(login, requester, requester2):
    service = EndpointService.objects.create(
        service_id="epsrv-errors000000000000",
        region_id="cn-hangzhou",
        status="active",
        owner=requester,
    )
    response = login(requester2).get(f"/services/{service.service_id}/revoke/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="error-page" data-status="403"' in html
    assert "Only the service&#x27;s owner and approvers can revoke access." in html
    assert "Log out requester2" in html  # the portal's own layout, signed in


@pytest.mark.parametrize("debug", [True, False])
def test_a_missing_page_is_the_portals_own_in_development_too(
    login, requester, requester2, settings, debug
):
    settings.DEBUG = debug
    client = login(requester2)
    for path in ("/no-such-page/", f"/requests/{ServiceRequestFactory(requester=requester).pk}/"):
        response = client.get(path)
        assert response.status_code == 404, path
        html = response.content.decode()
        assert 'id="error-page" data-status="404"' in html, path
        assert "URLconf" not in html and "DEBUG = True" not in html


def test_the_technical_404_stays_one_setting_away(login, requester, settings):
    settings.DEBUG, settings.DEBUG_404_PAGE = True, True
    response = login(requester).get("/no-such-page/")
    assert response.status_code == 404
    assert "URLconf" in response.content.decode()


def test_a_form_from_a_stale_page_is_refused_on_a_page_that_says_why(requester):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    client = Client(enforce_csrf_checks=True)
    client.force_login(requester)
    response = client.post(f"/requests/{request.pk}/cancel/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="error-page" data-status="403"' in html
    assert "Nothing was done" in html and "/static/css/portal" in html
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL


def test_a_server_error_page_needs_nothing_that_may_be_broken():
    request = RequestFactory().get("/anything/")
    response = server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'data-status="500"' in html


def test_cancel_asks_first_and_says_what_is_lost(login, requester, approver):
    request = ServiceRequestFactory(requester=requester, state=State.PENDING_APPROVAL)
    client = login(requester)
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert f'href="/requests/{request.pk}/cancel/">Cancel request</a>' in page
    confirm = client.get(f"/requests/{request.pk}/cancel/")
    assert confirm.status_code == 200
    assert f"Cancel request #{request.pk}?" in confirm.content.decode()
    request.refresh_from_db()
    assert request.state == State.PENDING_APPROVAL  # asking changed nothing
    assert client.post(f"/requests/{request.pk}/cancel/").status_code == 302
    request.refresh_from_db()
    assert request.state == State.CANCELLED
    again = client.get(f"/requests/{request.pk}/cancel/", follow=True)
    assert "cannot be cancelled" in again.content.decode()
