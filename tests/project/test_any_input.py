"""Property-based tests: no input gives a 500, and every refusal carries a message."""

import json
import urllib.error
import urllib.request

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.service_requests.models import ServiceRequest
from simulator.backend import Account, ApiError, Backend
from simulator.protocol import nest

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(max_size=80)
maybe = st.one_of(
    text,
    st.sampled_from(
        [
            "",
            "nlb",
            "slb",
            "alb",
            "gwlb",
            "IPv4",
            "DualStack",
            "Endpoint",
            "EndpointService",
            "cn-hangzhou",
            "cn-hangzhou-h",
            "nlb-hz0000000000000001",
            "rg-abc",
            "aliyun",
            "https://x",
            "x" * 300,
        ]
    ),
)


def rows(names, max_size):
    return st.lists(st.fixed_dictionaries({n: maybe for n in names}), max_size=max_size)


@pytest.mark.django_db
@SETTINGS
@given(
    fields=st.fixed_dictionaries(
        {
            "region_id": maybe,
            "service_description": maybe,
            "service_resource_type": maybe,
            "address_ip_version": maybe,
            "payer": maybe,
            "resource_group_id": maybe,
            "justification": maybe,
            "auto_accept_enabled": st.sampled_from(["", "on", "x"]),
            "action": st.sampled_from(
                [
                    "draft",
                    "submit",
                    "validate",
                    "add-tag",
                    "add-resource",
                    "remove-tag-0",
                    "remove-resource-7",
                    "refresh",
                    "bogus",
                ]
            ),
        }
    ),
    resources=rows(["resource_type", "resource_id", "zone_id"], 12),
    tags=rows(["key", "value"], 22),
    total=st.one_of(st.none(), st.integers(-5, 5000), st.just("abc")),
)
def test_request_form_never_fails_and_always_explains(
    client, requester, fields, resources, tags, total
):
    cache.clear()  # each example is a fresh minute: the per-user cloud budget is not under test
    client.force_login(requester)
    data = {k: v for k, v in fields.items() if "\x00" not in v}
    for prefix, items in (("resources", resources), ("tags", tags)):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(items) if total is None else total)
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        for i, row in enumerate(items):
            for name, value in row.items():
                data[f"{prefix}-{i}-{name}"] = value.replace("\x00", "")
    before = ServiceRequest.objects.count()
    response = client.post("/requests/new/", data)
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert ServiceRequest.objects.count() == before + 1
        saved = ServiceRequest.objects.latest("pk")
        assert saved.resources.count() <= 10 and saved.tags.count() <= 20
        return
    editor = response.context["editor"]
    if editor.show_errors and not editor.form.is_bound:
        return
    for _name, messages in editor.error_summary if editor.show_errors else []:
        assert messages and all(str(m).strip() for m in messages)


ACCOUNT = Account("dev", "k", "s")
params = st.dictionaries(
    st.sampled_from(
        [
            "RegionId",
            "ServiceId",
            "ClientToken",
            "DryRun",
            "Payer",
            "MaxResults",
            "NextToken",
            "ServiceResourceType",
            "AddressIpVersion",
            "AutoAcceptEnabled",
            "ServiceDescription",
            "ResourceGroupId",
            "ResourceId",
            "CrossRegion",
        ]
    ),
    maybe,
    max_size=8,
) | st.builds(
    lambda base, resources, tags, regions: {
        **base,
        "Resource": resources,
        "Tag": tags,
        "SupportedRegionList": regions,
    },
    st.dictionaries(st.sampled_from(["RegionId", "ServiceResourceType", "DryRun"]), maybe),
    st.lists(
        st.dictionaries(st.sampled_from(["ResourceType", "ResourceId", "ZoneId"]), maybe),
        max_size=12,
    ),
    st.lists(st.dictionaries(st.sampled_from(["Key", "Value"]), maybe), max_size=22),
    st.lists(maybe, max_size=3),
)


@SETTINGS
@given(action=st.sampled_from([*sorted(Backend.ACTIONS), "Nope"]), values=params)
def test_simulator_backend_answers_or_refuses_with_a_code(action, values):
    backend = Backend(":memory:", create_delay=0, accounts=[ACCOUNT])
    try:
        answer = backend.call(ACCOUNT, action, values)
    except ApiError as error:
        assert error.code and error.message
        assert 400 <= error.status < 600
    else:
        assert isinstance(answer, dict)
        json.dumps(answer)


@SETTINGS
@given(
    flat=st.dictionaries(
        st.text(alphabet="ResourceTag.0123456789KeyValueIdZone", max_size=30),
        st.text(max_size=10),
        max_size=10,
    )
)
def test_flattened_parameters_nest_or_refuse(flat):
    try:
        nested = nest(flat)
    except ApiError as error:
        assert error.code.startswith("IllegalParamFormat.")
    else:
        assert isinstance(nested, dict)


@SETTINGS
@given(
    query=st.text(max_size=120),
    body=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "x-acs-action",
                "x-acs-version",
                "authorization",
                "x-acs-date",
                "content-type",
                "x-acs-content-sha256",
                "x-acs-signature-nonce",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
        max_size=7,
    ),
)
def test_simulator_http_never_crashes(simulator_server, query, body, headers):
    url = f"http://{simulator_server.endpoint}/?{urllib.request.quote(query, safe='=&')}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    assert status < 500
    answer = json.loads(payload)
    if status >= 400:
        assert answer["Code"] and answer["Message"] and answer["RequestId"]
