"""The request form: each documented rule refused at its field, nothing typed lost."""

import re

import pytest

from portal.service_requests.models import ServiceRequest, State

pytestmark = pytest.mark.django_db


def form_data(resources=None, tags=None, **fields):
    data = {
        "region_id": "cn-hangzhou",
        "service_description": "Orders API",
        "service_resource_type": "nlb",
        "address_ip_version": "IPv4",
        "payer": "Endpoint",
        "resource_group_id": "",
        "justification": "Payments needs it.",
        "action": "draft",
    }
    data.update(fields)
    resources = (
        resources if resources is not None else [("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h")]
    )
    tags = tags or []
    data["resources-TOTAL_FORMS"] = str(len(resources))
    data["resources-INITIAL_FORMS"] = "0"
    for i, (kind, resource_id, zone) in enumerate(resources):
        data[f"resources-{i}-resource_type"] = kind
        data[f"resources-{i}-resource_id"] = resource_id
        data[f"resources-{i}-zone_id"] = zone
    data["tags-TOTAL_FORMS"] = str(len(tags))
    data["tags-INITIAL_FORMS"] = "0"
    for i, (key, value) in enumerate(tags):
        data[f"tags-{i}-key"] = key
        data[f"tags-{i}-value"] = value
    return data


def post_new(client, data):
    return client.post("/requests/new/", data)


def editor_of(response):
    return response.context["editor"]


def test_new_form_offers_regions_from_the_cloud(login, requester):
    response = login(requester).get("/requests/new/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="cn-huhehaote">' in html
    assert 'name="resources-0-resource_id"' in html


def test_draft_is_saved_with_resources_and_tags(login, requester):
    data = form_data(
        resources=[
            ("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h"),
            ("nlb", "nlb-hzpool000001", "cn-hangzhou-i"),
        ],
        tags=[("team", "payments"), ("env", ""), ("cost-center", "42")],
    )
    response = post_new(login(requester), data)
    assert response.status_code == 302
    saved = ServiceRequest.objects.get()
    assert saved.state == State.DRAFT
    assert saved.requester == requester
    assert [r.zone_id for r in saved.resources.all()] == ["cn-hangzhou-h", "cn-hangzhou-i"]
    assert [(t.key, t.value) for t in saved.tags.all()] == [
        ("team", "payments"),
        ("env", ""),
        ("cost-center", "42"),
    ]
    assert saved.events.get().action == "created"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {
                "address_ip_version": "DualStack",
                "service_resource_type": "slb",
                "resources": [("slb", "lb-hz00000000000000001", "cn-hangzhou-h")],
            },
            "address_ip_version",
            "DualStack is only available for nlb and gwlb",
        ),
        ({"resource_group_id": "group-1"}, "resource_group_id", "rg-"),
        ({"region_id": "cn-nowhere"}, "region_id", "Select a valid choice"),
        ({"service_description": "x" * 257}, "service_description", "at most 256"),
        ({"supported_region_list": ["moon-1"]}, "supported_region_list", "valid choice"),
    ],
)
def test_main_field_rules(login, requester, changes, field, message):
    response = post_new(login(requester), form_data(**changes))
    assert response.status_code == 200
    errors = editor_of(response).form.errors
    assert message in " ".join(errors[field])
    assert ServiceRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (
            ("slb", "lb-hz00000000000000001", "cn-hangzhou-h"),
            "resource_type",
            "Must be the service resource type (nlb)",
        ),
        (("nlb", "nlb-hz0000000000000001", ""), "zone_id", "A zone is required"),
        (
            ("nlb", "nlb-hz0000000000000001", "cn-shanghai-e"),
            "zone_id",
            "cn-shanghai-e is not a zone of cn-hangzhou",
        ),
        (("nlb", "nlb hz 1", "cn-hangzhou-h"), "resource_id", "letters, digits and dashes"),
    ],
)
def test_resource_row_rules(login, requester, row, field, message):
    response = post_new(login(requester), form_data(resources=[row]))
    assert response.status_code == 200
    row_errors = editor_of(response).resources.errors[0]
    assert message in " ".join(row_errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")


def test_duplicate_resource_is_refused_at_the_second_row(login, requester):
    rows = [("nlb", "nlb-hz0000000000000001", "cn-hangzhou-h")] * 2
    response = post_new(login(requester), form_data(resources=rows))
    errors = editor_of(response).resources.errors
    assert errors[0] == {}
    assert "listed twice" in errors[1]["resource_id"][0]


def test_more_than_ten_resources_are_refused(login, requester):
    rows = [("nlb", f"nlb-hzpool{n:06d}", "cn-hangzhou-h") for n in range(1, 12)]
    response = post_new(login(requester), form_data(resources=rows))
    assert "At most 10 resources" in editor_of(response).resources.non_form_errors()[0]


def test_submit_needs_a_resource_and_a_justification(login, requester):
    response = post_new(
        login(requester), form_data(resources=[], justification="", action="submit")
    )
    editor = editor_of(response)
    assert "at least one resource" in editor.resources.non_form_errors()[0]
    assert "why this service is needed" in editor.form.errors["justification"][0]
    assert ServiceRequest.objects.count() == 0


def test_draft_may_lack_resources_and_justification(login, requester):
    response = post_new(login(requester), form_data(resources=[], justification=""))
    assert response.status_code == 302
    assert ServiceRequest.objects.get().resources.count() == 0


@pytest.mark.parametrize(
    ("tag", "field", "message"),
    [
        (("", "value"), "key", "This field is required"),
        (("k" * 65, ""), "key", "at most 64"),
        (("team", "v" * 129), "value", "at most 128"),
        (("aliyun-team", ""), "key", "cannot start with “aliyun” or “acs:”"),
        (("ACS:team", ""), "key", "cannot start with"),
        (("team", "acs:x"), "value", "cannot start with"),
        (("link", "see https://example.com"), "value", "cannot contain http://"),
        (("http://x", ""), "key", "cannot contain"),
    ],
)
def test_tag_rules(login, requester, tag, field, message):
    response = post_new(login(requester), form_data(tags=[tag]))
    assert message in " ".join(editor_of(response).tags.errors[0][field])


def test_tag_keys_are_unique(login, requester):
    response = post_new(login(requester), form_data(tags=[("team", "a"), ("team", "b")]))
    assert "only once" in editor_of(response).tags.errors[1]["key"][0]


def test_more_than_twenty_tags_are_refused(login, requester):
    tags = [(f"k{n}", "v") for n in range(21)]
    response = post_new(login(requester), form_data(tags=tags))
    assert "At most 20 tags" in editor_of(response).tags.non_form_errors()[0]


def test_refusal_keeps_everything_typed(login, requester):
    data = form_data(
        service_description="Keep me",
        resource_group_id="bad group",
        tags=[("team", "payments")],
        resources=[("nlb", "nlb-hzpool000007", "cn-hangzhou-i")],
    )
    html = post_new(login(requester), data).content.decode()
    assert 'value="Keep me"' in html
    assert 'value="bad group"' in html
    assert 'value="payments"' in html
    assert 'value="nlb-hzpool000007"' in html
    assert 'value="cn-hangzhou-i"' in html
    assert "please correct the fields" in html


def test_add_and_remove_rows_keep_the_other_fields(login, requester):
    client = login(requester)
    data = form_data(
        service_description="Still here",
        resources=[
            ("nlb", "nlb-hzpool000001", "cn-hangzhou-h"),
            ("nlb", "nlb-hzpool000002", "cn-hangzhou-i"),
        ],
        action="add-resource",
    )
    added = editor_of(post_new(client, data))
    assert added.resources.total_form_count() == 3
    assert added.form["service_description"].value() == "Still here"
    data["action"] = "remove-resource-0"
    removed = post_new(client, data)
    editor = editor_of(removed)
    assert [f["resource_id"].value() for f in editor.resources.forms] == ["nlb-hzpool000002"]
    data["action"] = "add-tag"
    assert editor_of(post_new(client, data)).tags.total_form_count() == 1
    assert ServiceRequest.objects.count() == 0


def test_row_changes_answer_htmx_with_the_form_fragment(login, requester):
    response = login(requester).post(
        "/requests/new/", form_data(action="add-tag"), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<form method="post" id="request-form"')
    assert "<html" not in html
    assert 'name="tags-0-key"' in html
    assert "please correct" not in html


def test_region_change_refreshes_the_zones(login, requester):
    data = form_data(region_id="cn-huhehaote", action="refresh", resources=[])
    html = login(requester).post("/requests/new/", data).content.decode()
    assert '<option value="cn-huhehaote-a">' in html
    assert '<option value="cn-hangzhou-h">' not in html


def test_validate_runs_a_dry_run_and_saves_nothing(login, requester, cloud):
    response = post_new(login(requester), form_data(action="validate"))
    html = response.content.decode()
    assert 'data-dry-run="DryRunOperation"' in html
    assert "The cloud would accept this request." in html
    assert ServiceRequest.objects.count() == 0
    assert cloud.services() == []


def test_validate_shows_the_cloud_error_at_its_field(login, requester):
    data = form_data(
        address_ip_version="DualStack",
        resources=[("nlb", "nlb-hz0000000000000002", "cn-hangzhou-i")],
        action="validate",
    )
    response = post_new(login(requester), data)
    message = (
        "Resource 1 (nlb-hz0000000000000002 in cn-hangzhou-i): A resource of this request does "
        "not support DualStack: choose IPv4 or another resource."
    )
    assert response.context["cloud_errors"] == {"address_ip_version": message}
    html = response.content.decode()
    assert f"The cloud says: {message}" in html.split('id="field-address_ip_version"')[1]
    assert f"The cloud says: {message}" in html.split('id="resource-row-0"')[1]


def test_form_without_javascript_posts_plainly(login, requester):
    html = login(requester).get("/requests/new/").content.decode()
    assert 'method="post"' in html
    assert 'name="action" value="add-resource"' in html
    assert "<noscript>" in html


LIMITS_BASE = {
    "region_id": "cn-hangzhou",
    "service_description": "Orders API",
    "service_resource_type": "nlb",
    "address_ip_version": "IPv4",
    "payer": "Endpoint",
    "justification": "Needed for checkout.",
}


def test_a_full_list_of_tags_or_resources_says_why_nothing_more_can_be_added(login, requester):
    tags = {"tags-TOTAL_FORMS": "20", "tags-INITIAL_FORMS": "0"}
    for i in range(20):
        tags |= {f"tags-{i}-key": f"k{i}", f"tags-{i}-value": "v"}
    rows = {"resources-TOTAL_FORMS": "10", "resources-INITIAL_FORMS": "0"}
    for i in range(10):
        rows |= {
            f"resources-{i}-resource_type": "nlb",
            f"resources-{i}-resource_id": f"nlb-hz{i:014d}",
            f"resources-{i}-zone_id": "cn-hangzhou-h",
        }
    page = (
        login(requester)
        .post(
            "/requests/new/",
            {**LIMITS_BASE, **tags, **rows, "action": "refresh"},
            HTTP_HX_REQUEST="true",
        )
        .content.decode()
    )
    assert 'value="add-tag"' not in page
    assert "20 tags, the most the cloud keeps on a service: remove one to add another." in page
    assert 'value="add-resource"' not in page
    assert "10 resources, the most the cloud takes at creation: remove one to add another." in page
    assert "up to 10 (the most the cloud takes at creation; a service holds up to 20)" in page


def test_the_justification_says_it_is_needed_to_submit(login, requester):
    page = login(requester).get("/requests/new/").content.decode()
    label = re.search(r'<label for="id_justification">(.*?)</label>', page, re.S).group(1)
    assert (
        label == 'Justification <span aria-hidden="true">*</span>'
    )  # its name stays "Justification"
    assert "Needed to submit; a draft may wait." in page
