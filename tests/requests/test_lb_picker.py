"""The load balancer picker of the request form: its fragment and page, choosing a load
balancer and its zones into resource rows (with and without htmx), and cloud refusals shown
at the row at fault."""

import re

import pytest

from portal.service_requests.models import ServiceRequest, State
from tests.requests.test_form import form_data, post_new
from tests.support.day2 import form, make_service
from tests.support.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db
URL = "/requests/load-balancers/"
HX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/requests/new/"}


def picker(client, headers=HX, **params):
    return client.get(
        URL, {"region_id": "cn-hangzhou", "service_resource_type": "nlb", **params}, headers=headers
    )


def radio(html, resource_id):
    found = re.search(
        rf'<input type="radio" name="pick_resource_id" value="{resource_id}"[^>]*>', html
    )
    assert found, resource_id
    return found.group(0)


def test_the_fragment_lists_the_type_in_the_region_with_zones(login, requester):
    response = picker(login(requester))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the fragment, not the page
    assert "Your NLB (nlb) load balancers in cn-hangzhou" in html
    assert "hz-ipv4-nlb" in html
    assert 'name="pick_zone_nlb-hz0000000000000002" value="cn-hangzhou-i" checked' in html
    assert 'name="pick_zone_nlb-hz0000000000000002" value="cn-hangzhou-j" checked' in html
    assert 'name="pick_zone_nlb-hz0000000000000002" value="cn-hangzhou-h"' not in html
    assert "Hangzhou Zone I" in html
    assert "The first 50 of 1002 are listed" in html
    assert 'hx-post="/requests/new/"' in html


def test_a_load_balancer_privatelink_refuses_is_shown_but_not_choosable(login, requester):
    html = picker(login(requester), service_resource_type="slb").content.decode()
    public = radio(html, "lb-hz00000000000000002")
    assert "disabled" in public
    assert 'aria-describedby="pick-lb-hz00000000000000002-why"' in public
    assert "Not choosable: Internet-facing" in html
    assert "disabled" not in radio(html, "lb-hz00000000000000001")
    # One zone for an slb: radios, the first chosen.
    assert 'type="radio" name="pick_zone_lb-hzpool000001" value="cn-hangzhou-h" checked' in html


def test_the_page_without_htmx_is_a_table_to_read_ids_from(login, requester):
    response = picker(login(requester), headers={}, service_resource_type="alb")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "<h1>Your load balancers</h1>" in html
    assert (
        "<td><code>alb-hz0000000000000001</code></td><td>cn-hangzhou-h, cn-hangzhou-i</td>" in html
    )
    assert "not enabled: Internet-facing" in html
    assert 'name="pick_resource_id"' not in html
    assert '<option value="cn-hangzhou" selected>' in html


def test_gwlb_is_listed_like_the_others(login, requester, simulator):
    html = picker(login(requester), service_resource_type="gwlb").content.decode()
    assert "Gateway load balancers are not listed here" not in html
    assert 'value="gwlb-hz000000000000001"' in html
    assert "hz-inspection-gwlb" in html


def test_without_region_or_type_it_says_what_to_choose(login, requester):
    client = login(requester)
    for params in ({"region_id": ""}, {"service_resource_type": "xlb"}, {"region_id": "CN hz"}):
        html = picker(client, **params).content.decode()
        assert "Choose the region and the service resource type first." in html


def test_the_cloud_down_says_so_and_points_to_typing(login, requester, settings):
    settings.PRIVATELINK_ENDPOINT = "127.0.0.1:9"
    html = picker(login(requester)).content.decode()
    assert "The NLB API did not answer (Unreachable)" in html
    assert "Type a load balancer's id in a resource row instead." in html
    assert 'name="pick_resource_id"' not in html


def test_post_is_not_allowed(login, requester):
    assert login(requester).post(URL).status_code == 405


def test_anonymous_is_told_to_sign_in_again_not_sent_the_login_page(client):
    # From the form (htmx): the login page would be pasted into the picker.
    response = picker(client)
    assert response.status_code == 401
    assert "Your session has ended" in response.content.decode()
    response = picker(client, headers={})
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_auditors_do_not_pick(login, auditor):
    assert picker(login(auditor)).status_code == 403


def test_the_listing_counts_against_the_cloud_budget(login, requester, settings):
    settings.CLOUD_ACTIONS_PER_MINUTE = 2
    client = login(requester)
    answers = [picker(client) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    # When to try again, for the page's failure message (failures.js) and any client.
    wait = int(answers[2]["Retry-After"])
    assert 1 <= wait <= 60
    assert f"Try again in {wait} s." in answers[2].content.decode()


def test_the_choice_posts_only_to_a_request_form(login, requester):
    headers = {**HX, "HX-Current-URL": "http://testserver/audit/"}
    html = picker(login(requester), headers=headers).content.decode()
    assert "hx-post" not in html.split('value="pick-load-balancer"')[1].split(">")[0]


# --- choosing: rows made from the picker -------------------------------------------------


def pick(client, resource_id, zones, url="/requests/new/", headers=None, **fields):
    data = form_data(action="pick-load-balancer", resources=[("nlb", "", "")], **fields)
    data["pick_resource_id"] = resource_id
    data[f"pick_zone_{resource_id}"] = zones
    data.setdefault("pick_zone_nlb-hzpool000003", ["cn-hangzhou-h"])  # another's, ignored
    return client.post(url, data, headers=headers or {})


def rows(response):
    return [
        (
            f.data.get(f.add_prefix("resource_type")),
            f.data.get(f.add_prefix("resource_id")),
            f.data.get(f.add_prefix("zone_id")),
        )
        for f in response.context["editor"].resources.forms
    ]


def test_choosing_a_load_balancer_and_zones_makes_one_row_per_zone(login, requester):
    response = pick(
        login(requester),
        "nlb-hz0000000000000002",
        ["cn-hangzhou-i", "cn-hangzhou-j"],
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert rows(response) == [
        ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-i"),
        ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-j"),
    ]
    html = response.content.decode()
    assert html.lstrip().startswith('<form method="post" id="request-form"')  # the form's fragment
    assert 'value="Orders API"' in html  # nothing typed is lost
    assert 'id="lb-picker"></div>' in html  # the picker closes
    assert ServiceRequest.objects.count() == 0


def test_choosing_keeps_the_rows_typed_and_adds_no_duplicate(login, requester):
    data = form_data(
        action="pick-load-balancer",
        resources=[
            ("nlb", "nlb-hzpool000001", "cn-hangzhou-h"),
            ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-i"),
        ],
    )
    data["pick_resource_id"] = "nlb-hz0000000000000002"
    data["pick_zone_nlb-hz0000000000000002"] = ["cn-hangzhou-i", "cn-hangzhou-j"]
    assert rows(post_new(login(requester), data)) == [
        ("nlb", "nlb-hzpool000001", "cn-hangzhou-h"),
        ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-i"),
        ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-j"),
    ]


def test_choosing_what_is_already_there_says_so(login, requester):
    data = form_data(
        action="pick-load-balancer", resources=[("nlb", "nlb-hz0000000000000002", "cn-hangzhou-i")]
    )
    data["pick_resource_id"] = "nlb-hz0000000000000002"
    data["pick_zone_nlb-hz0000000000000002"] = ["cn-hangzhou-i"]
    response = post_new(login(requester), data)
    assert "nlb-hz0000000000000002 is already in the request in the zones chosen." in (
        response.content.decode()
    )
    assert len(rows(response)) == 1


def test_an_slb_is_one_row_in_one_zone(login, requester):
    response = pick(
        login(requester),
        "lb-hzpool000001",
        ["cn-hangzhou-i", "cn-hangzhou-h"],
        service_resource_type="slb",
    )
    assert rows(response) == [("slb", "lb-hzpool000001", "cn-hangzhou-i")]


def test_a_choice_without_a_load_balancer_or_zone_says_so_in_the_open_picker(login, requester):
    client = login(requester)
    response = pick(client, "", [])
    html = response.content.decode()
    assert "Choose a load balancer first." in html
    assert 'name="pick_resource_id"' in html  # the picker stays open
    assert rows(response) == [("nlb", "", "")]
    response = pick(client, "nlb-hz0000000000000001", [])
    assert "Choose at least one zone of nlb-hz0000000000000001." in response.content.decode()


def test_a_choice_that_does_not_fit_adds_nothing(login, requester):
    data = form_data(
        action="pick-load-balancer",
        resources=[("nlb", f"nlb-hzpool{n:06d}", "cn-hangzhou-h") for n in range(1, 10)],
    )
    data["pick_resource_id"] = "nlb-hz0000000000000002"
    data["pick_zone_nlb-hz0000000000000002"] = ["cn-hangzhou-i", "cn-hangzhou-j"]
    response = post_new(login(requester), data)
    assert "Only 1 more resource rows fit (at most 10)." in response.content.decode()
    assert len(rows(response)) == 9


def test_without_javascript_the_button_posts_and_the_form_comes_back_with_the_picker(
    login, requester
):
    client = login(requester)
    page = client.get("/requests/new/").content.decode()
    assert 'name="action" value="load-balancers"' in page
    response = post_new(client, form_data(action="load-balancers"))
    html = response.content.decode()
    assert "<html" in html and "Your NLB (nlb) load balancers in cn-hangzhou" in html
    assert 'value="Orders API"' in html
    # The choice is then posted with the form, like any other of its buttons.
    response = pick(client, "nlb-hz0000000000000001", ["cn-hangzhou-h"])
    assert rows(response) == [("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h")]
    assert ServiceRequest.objects.count() == 0


def test_the_picker_in_an_edit_form_posts_to_that_form(login, requester):
    request = ServiceRequestFactory(requester=requester, state=State.DRAFT)
    headers = {**HX, "HX-Current-URL": f"http://testserver/requests/{request.pk}/edit/"}
    html = picker(login(requester), headers=headers).content.decode()
    assert f'hx-post="/requests/{request.pk}/edit/"' in html


def test_the_change_form_lists_the_services_type_in_its_region(login, requester):
    service = make_service(requester)
    client = login(requester)
    page = client.get(f"/services/{service.service_id}/change/").content.decode()
    assert (
        f"/requests/load-balancers/?region_id={service.region_id}&amp;"
        f"service_resource_type={service.service_resource_type}"
    ) in page


# --- the cloud's refusal, at the row at fault ---------------------------------------------


def test_validate_shows_a_refused_zone_at_its_row(login, requester):
    data = form_data(
        action="validate",
        resources=[
            ("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h"),
            ("nlb", "nlb-hz0000000000000002", "cn-hangzhou-h"),
        ],
    )
    response = post_new(login(requester), data)
    html = response.content.decode()
    message = (
        "Resource 2 (nlb-hz0000000000000002 in cn-hangzhou-h): "
        "A resource is not deployed in the zone given for it."
    )
    assert response.context["dry_run"].message == message
    row_1 = html.split('id="resource-row-0"')[1].split("</tr>")[0]
    row_2 = html.split('id="resource-row-1"')[1].split("</tr>")[0]
    assert "The cloud says" not in row_1
    assert f"The cloud says: {message}" in row_2
    assert response.context["cloud_errors"] == {}  # at the row, not again above the table


def test_submit_refused_names_the_row_on_the_requests_page(login, requester):
    client = login(requester)
    data = form_data(
        action="submit",
        resources=[
            ("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h"),
            ("nlb", "nlb-hz9999999999999999", "cn-hangzhou-i"),
        ],
    )
    page = client.post("/requests/new/", data, follow=True).content.decode()
    request = ServiceRequest.objects.get()
    assert request.state == State.DRAFT
    assert request.dry_run_message.startswith(
        "Resource 2 (nlb-hz9999999999999999 in cn-hangzhou-i): "
    )
    assert "Resource 2 (nlb-hz9999999999999999 in cn-hangzhou-i)" in page


def test_a_change_plans_refused_attach_names_its_row(login, requester):
    service = make_service(requester)
    added = {
        "resource_type": "nlb",
        "resource_id": "nlb-hz0000000000000002",
        "zone_id": "cn-hangzhou-h",
    }
    data = form(service, resources=[*service.resources, added], action="validate")
    response = login(requester).post(f"/services/{service.service_id}/change/", data)
    message = response.context["dry_run"].message
    assert message.startswith(
        "Step 1 (AttachResourceToVpcEndpointService of nlb-hz0000000000000002 in cn-hangzhou-h): "
    )
    html = response.content.decode()
    assert f"The cloud says: {message}" in html.split('id="resource-row-2"')[1].split("</tr>")[0]
    assert "The cloud says" not in html.split('id="resource-row-0"')[1].split("</tr>")[0]


def test_the_calls_that_found_the_row_are_in_the_audit_trail(login, requester):
    client = login(requester)
    data = form_data(
        action="submit",
        resources=[
            ("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h"),
            ("nlb", "nlb-hz9999999999999999", "cn-hangzhou-i"),
        ],
    )
    client.post("/requests/new/", data)
    event = ServiceRequest.objects.get().events.get(action="dry_run")
    calls = event.details["cloud_calls"]
    assert [c["action"] for c in calls] == ["CreateVpcEndpointService"] * 3
    assert [c["outcome"] for c in calls] == [
        "LoadBalancerNotFound",
        "DryRunOperation",
        "LoadBalancerNotFound",
    ]


def test_a_create_refused_for_a_row_names_it_and_keeps_the_calls(requester, simulator):
    from portal.provisioning import services as provisioning

    request = ServiceRequestFactory(
        requester=requester,
        state=State.APPROVED,
        resources=[
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz0000000000000001",
                "zone_id": "cn-hangzhou-h",
            },
            {
                "resource_type": "nlb",
                "resource_id": "nlb-hz0000000000000002",
                "zone_id": "cn-hangzhou-h",
            },
        ],
    )
    assert provisioning.service_request_provision(pk=request.pk) is None
    request.refresh_from_db()
    assert request.state == State.FAILED
    assert request.error_message.startswith(
        "Resource 2 (nlb-hz0000000000000002 in cn-hangzhou-h): "
    )
    call = request.events.get(action="cloud_call").details
    assert call["cloud_call"]["outcome"] == "EndpointServiceNotSupportedZone"
    assert [c["outcome"] for c in call["row_checks"]] == [
        "DryRunOperation",
        "EndpointServiceNotSupportedZone",
    ]
    assert simulator.services() == []
