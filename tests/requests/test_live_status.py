"""The live request page: cheap "nothing changed" polls, and forms never swapped under a cursor."""

import re

import pytest

from portal.requests import services
from portal.service_requests.models import ServiceRequest, State
from tests.support.factories import ServiceRequestFactory
from tests.support.helpers import decide

pytestmark = pytest.mark.django_db


def poll_url(html):
    """The URL the page's status area polls, as the browser would call it."""
    section = re.search(r'<section id="status"[^>]*>', html).group(0)
    return re.search(r'hx-get="([^"]+)"', section).group(1).replace("&amp;", "&")


@pytest.fixture
def pending(requester):
    request = ServiceRequestFactory(requester=requester, auto_accept_enabled=True)
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    return request


def test_a_poll_that_finds_nothing_changed_is_an_empty_204(
    login, requester, pending, django_assert_num_queries
):
    client = login(requester)
    url = poll_url(client.get(f"/requests/{pending.pk}/").content.decode())
    # The session, the user, and one query for the version and the right to see it.
    with django_assert_num_queries(3):
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.content == b""


def test_an_approvers_no_change_poll_costs_the_same_one_query(
    login, approver2, pending, django_assert_num_queries
):
    client = login(approver2)
    url = poll_url(client.get(f"/requests/{pending.pk}/").content.decode())
    with django_assert_num_queries(3):
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 204


def test_an_approval_by_someone_else_updates_the_list_but_not_the_forms(
    login, pending, approver, approver2
):
    watcher = login(approver2)
    url = poll_url(watcher.get(f"/requests/{pending.pk}/").content.decode())
    decide(login(approver), pending, "approve", comment="one of two")
    watcher.force_login(approver2)
    response = watcher.get(url, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<div id="approvals" hx-swap-oob="true">' in html
    assert "approver: approved" in html
    assert '<article id="history" hx-swap-oob="true">' in html
    # The approver typing a comment keeps it: no decision forms in the answer.
    assert 'id="decision-forms"' not in html
    assert 'id="parameters"' not in html


def test_a_new_revision_replaces_the_forms_and_the_parameters(
    login, requester, pending, approver, approver2
):
    watcher = login(approver)
    url = poll_url(watcher.get(f"/requests/{pending.pk}/").content.decode())
    decide(login(approver2), pending, "send_back", comment="rename it")
    watcher.force_login(approver)
    html = watcher.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="changes_requested"' in html
    assert '<div id="decision-forms" hx-swap-oob="true">' in html
    assert '<article id="parameters" hx-swap-oob="true">' in html
    assert "Approve revision" not in html


def test_the_status_stops_polling_once_final(login, requester, pending, approver, approver2):
    client = login(requester)
    url = poll_url(client.get(f"/requests/{pending.pk}/").content.decode())
    decide(login(approver), pending, "reject", comment="no")
    client.force_login(requester)
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 286
    assert 'data-status="rejected"' in response.content.decode()
    assert "hx-trigger" not in response.content.decode()


def test_a_poll_from_someone_who_may_not_see_the_request_learns_nothing(login, pending, requester2):
    client = login(requester2)
    response = client.get(
        f"/requests/{pending.pk}/status/?v={pending.version}", headers={"HX-Request": "true"}
    )
    assert response.status_code == 404


def test_a_request_whose_state_was_final_when_opened_does_not_poll(login, requester):
    request = ServiceRequestFactory(requester=requester, state=State.ACTIVE)
    html = login(requester).get(f"/requests/{request.pk}/").content.decode()
    assert "hx-trigger" not in html.split('id="status"')[1].split("</section>")[0]


def test_a_new_revision_brings_its_resources_tags_and_dry_run(
    login, requester, pending, approver, approver2
):
    watcher = login(approver)
    url = poll_url(watcher.get(f"/requests/{pending.pk}/").content.decode())
    decide(login(approver2), pending, "send_back", comment="rename it")
    watcher.force_login(approver)
    html = watcher.get(url, headers={"HX-Request": "true"}).content.decode()
    parameters = html.split('<article id="parameters"')[1].split("</article>")[0]
    assert "nlb-hz0000000000000001" in parameters
    assert "None yet" not in parameters
    assert '<section id="dry-run" aria-live="polite" hx-swap-oob="true">' in html
    assert f'name="digest" value="{pending.digest()}"' not in html  # no forms: not pending


def test_a_busy_cloud_is_said_in_plain_words_with_the_next_try(login, requester):
    from datetime import timedelta

    from django.utils import timezone

    request = ServiceRequestFactory(
        requester=requester,
        state=State.PROVISIONING,
        last_cloud_action="CreateVpcEndpointService",
        last_cloud_outcome="Throttling.User",
        last_cloud_at=timezone.now(),
        next_step_at=timezone.now() + timedelta(seconds=4.4),
    )
    html = login(requester).get(f"/requests/{request.pk}/").content.decode()
    assert "The cloud is busy (Throttling.User): the portal tries again by itself in 4 s." in html
    assert "Nothing needs doing." in html
    # A permanent refusal, or a request no longer live, is not "retrying".
    ServiceRequest.objects.filter(pk=request.pk).update(last_cloud_outcome="ok")
    assert 'id="retrying"' not in login(requester).get(f"/requests/{request.pk}/").content.decode()
    ServiceRequest.objects.filter(pk=request.pk).update(
        last_cloud_outcome="Throttling.User", state=State.FAILED
    )
    assert 'id="retrying"' not in login(requester).get(f"/requests/{request.pk}/").content.decode()
