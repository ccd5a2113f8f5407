"""Every URL pattern of the project, for every role, by GET and by POST: the expected status.

Adding a view without a row here (or, for the API under /api/v1/, in test_api.API_MATRIX)
fails `test_every_url_pattern_has_a_row`.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from portal.endpoint_services.models import EndpointService
from portal.service_requests.models import State
from tests.api.test_endpoints import API_MATRIX, ROOT
from tests.support.factories import ServiceRequestFactory, UserFactory

ROLES = ["anonymous", "owner", "other", "approver", "auditor", "admin"]
LOGIN = 302  # redirect to the login page

MANAGED = {"managed": True}
UNMANAGED = {"managed": False}


def everyone(get, post):
    cells = {role: (get, post) for role in ROLES[1:]}
    return {**cells, "anonymous": (LOGIN, LOGIN), "auditor": (get, 403)}


# name: (what the URL names: the state of a request, or the fields of a service owned by
# "owner"; {role: (GET status, POST status)})
MATRIX = {
    "login": (None, {r: (200, 200) for r in ROLES}),
    "logout": (None, {**{r: (405, 302) for r in ROLES}}),
    # Sign-in's first step sends anyone to the provider; its answer, missing here, back to login.
    "oidc_authentication_init": (None, {**{r: (302, 405) for r in ROLES}, "auditor": (302, 403)}),
    "oidc_authentication_callback": (
        None,
        {**{r: (302, 405) for r in ROLES}, "auditor": (302, 403)},
    ),
    "signed_in_again": (None, everyone(200, 405)),
    "healthz": (None, {**{r: (200, 405) for r in ROLES}, "auditor": (200, 403)}),
    "service_requests:home": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 405),
            "other": (200, 405),
            "approver": (200, 405),
            "auditor": (302, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:queue": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (200, 405),
            "auditor": (403, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:pending_count": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (200, 405),
            "auditor": (403, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:new": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 200),
            "other": (200, 200),
            "approver": (200, 200),
            "auditor": (403, 403),
            "admin": (200, 200),
        },
    ),
    "service_requests:load_balancers": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 405),
            "other": (200, 405),
            "approver": (200, 405),
            "auditor": (403, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:detail": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 405),
            "other": (404, 405),
            "approver": (200, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:status": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 405),
            "other": (404, 405),
            "approver": (200, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:calls": (
        State.PROVISIONING,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 405),
            "other": (404, 405),
            "approver": (200, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "service_requests:edit": (
        State.DRAFT,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 200),
            "other": (404, 404),
            "approver": (403, 403),
            "auditor": (403, 403),
            "admin": (403, 403),
        },
    ),
    "service_requests:submit": (
        State.DRAFT,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 302),
            "other": (405, 404),
            "approver": (405, 403),
            "auditor": (405, 403),
            "admin": (405, 403),
        },
    ),
    # GET asks to confirm; POST cancels.
    "service_requests:cancel": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 302),
            "other": (404, 404),
            "approver": (403, 403),
            "auditor": (403, 403),
            "admin": (403, 403),
        },
    ),
    "service_requests:validate": (
        State.DRAFT,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 302),
            "other": (405, 404),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "service_requests:clone": (
        State.REJECTED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 302),
            "other": (405, 404),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "service_requests:approve": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 403),
            "other": (405, 404),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "service_requests:reject": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 403),
            "other": (405, 404),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "service_requests:send_back": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 403),
            "other": (405, 404),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "service_requests:retry": (
        State.FAILED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 403),
            "other": (405, 404),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "history:history": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (403, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "history:access_review": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (403, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "history:export_csv": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (403, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "history:export_jsonl": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (403, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "history:timeline": (
        State.PENDING_APPROVAL,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (403, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "insights:dashboard": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (200, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "endpoint_services:list": (None, everyone(200, 405)),
    "endpoint_services:unmanaged": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (403, 405),
            "other": (403, 405),
            "approver": (200, 405),
            "auditor": (200, 403),
            "admin": (200, 405),
        },
    ),
    "endpoint_services:detail": (MANAGED, everyone(200, 405)),
    # Nothing in flight: the answer stops polling (286).
    "endpoint_services:status": (MANAGED, everyone(286, 405)),
    "endpoint_services:refresh": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 302),
            "other": (405, 403),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "endpoint_services:accept_drift": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 302),
            "other": (405, 403),
            "approver": (405, 302),
            "auditor": (405, 403),
            "admin": (405, 302),
        },
    ),
    "endpoint_services:change": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 200),
            "other": (403, 403),
            "approver": (200, 200),
            "auditor": (403, 403),
            "admin": (200, 200),
        },
    ),
    "endpoint_services:decommission": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 400),
            "other": (403, 403),
            "approver": (200, 400),
            "auditor": (403, 403),
            "admin": (200, 400),
        },
    ),
    # Owners (the owning team's members, or the person while no team owns it) and approvers
    # ask that another team take a service on; posted without a team, a 400 at that field.
    "endpoint_services:transfer": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 400),
            "other": (403, 403),
            "approver": (200, 400),
            "auditor": (403, 403),
            "admin": (200, 400),
        },
    ),
    "endpoint_services:adopt": (
        UNMANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (404, 404),
            "other": (404, 404),
            "approver": (200, 400),
            "auditor": (403, 403),
            "admin": (200, 400),
        },
    ),
    # Anyone signed in but an auditor asks for an account's access; the form posted without
    # an account id is a 400 at that field.
    "endpoint_services:access": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 400),
            "other": (200, 400),
            "approver": (200, 400),
            "auditor": (403, 403),
            "admin": (200, 400),
        },
    ),
    "endpoint_services:revoke": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 400),
            "other": (403, 403),
            "approver": (200, 400),
            "auditor": (403, 403),
            "admin": (200, 400),
        },
    ),
    # Keepers only; the endpoint named is not connected: 409 with the page and why.
    "endpoint_services:connection_accept": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 409),
            "other": (405, 403),
            "approver": (405, 409),
            "auditor": (405, 403),
            "admin": (405, 409),
        },
    ),
    "endpoint_services:connection_reject": (
        MANAGED,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (405, 409),
            "other": (405, 403),
            "approver": (405, 409),
            "auditor": (405, 403),
            "admin": (405, 409),
        },
    ),
    # One's API tokens: auditors make (read) tokens too. The form posted without a name is a
    # 400 at that field.
    "tokens:list": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            **{role: (200, 400) for role in ("owner", "other", "approver", "auditor", "admin")},
        },
    ),
    # The id is a request's, not a token of theirs.
    "tokens:revoke": (
        State.DRAFT,
        {
            "anonymous": (LOGIN, LOGIN),
            **{role: (405, 404) for role in ("owner", "other", "approver", "auditor", "admin")},
        },
    ),
    # One's delegations: anyone but auditors sees those they gave and hold; only those who
    # decide may delegate (the form posted without a delegate is a 400 at that field).
    "service_requests:delegations": (
        None,
        {
            "anonymous": (LOGIN, LOGIN),
            "owner": (200, 403),
            "other": (200, 403),
            "approver": (200, 400),
            "auditor": (403, 403),
            "admin": (200, 400),
        },
    ),
    # The id is a request's, not a delegation of theirs.
    "service_requests:delegation_revoke": (
        State.DRAFT,
        {
            "anonymous": (LOGIN, LOGIN),
            **{role: (405, 404) for role in ("owner", "other", "approver", "admin")},
            "auditor": (405, 403),
        },
    ),
    # The admin site stands for all its patterns: staff only, through its own login.
    "admin:index": (
        None,
        {
            "anonymous": (302, 302),
            "owner": (302, 302),
            "other": (302, 302),
            "approver": (302, 302),
            "auditor": (302, 403),
            "admin": (200, 200),
        },
    ),
}


def project_patterns():
    """Return {name: route} for every named pattern, the admin's folded into admin:index."""
    found = {}

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                space = pattern.namespace or namespace
                if space == "admin":
                    found["admin:index"] = "/admin/"
                    continue
                walk(pattern.url_patterns, route, space)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found[name] = "/" + route

    walk(get_resolver().url_patterns, "", None)
    return found


def test_every_url_pattern_has_a_row():
    patterns = project_patterns()
    # The API and SCIM answer a token or a secret, never a session: their rows are elsewhere
    # (test_api.py; tests/accounts/test_scim.py, which calls every SCIM URL).
    pages = {name for name in patterns if not name.startswith(("api:", "scim:"))}
    assert pages == set(MATRIX), "add a row to MATRIX for each new view"
    assert all(name for name in patterns)
    # The API's URLs have their rows, by method, token scope and role, in test_api.py.
    api = {name for name in patterns if name.startswith("api:")}
    assert api == {name for name, _method in API_MATRIX} | {ROOT[0]}


CELLS = [(name, role, method) for name in MATRIX for role in ROLES for method in ("GET", "POST")]


@pytest.fixture(autouse=True)
def provider_endpoint(settings):
    """Name the provider's authorization endpoint, so that no provider is asked for it."""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.example/authorize"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "role", "method"), CELLS)
def test_access(client, name, role, method, groups):
    state, expected = MATRIX[name]
    owner = UserFactory(username="owner")
    users = {
        "owner": owner,
        "other": UserFactory(username="other"),
        "approver": UserFactory(username="approver"),
        "auditor": UserFactory(username="auditor"),
        "admin": UserFactory(username="admin", is_superuser=True, is_staff=True),
    }
    users["approver"].groups.add(groups["approvers"])
    users["auditor"].groups.add(groups["auditors"])
    route = project_patterns()[name]
    data = {"comment": "matrix", "username": "nobody", "password": "wrong"}
    if "<int:pk>" in route:
        request = ServiceRequestFactory(requester=owner, state=state)
        route = route.replace("<int:pk>", str(request.pk))
        data.update(revision=request.revision, digest=request.digest())
    if "<str:service_id>" in route:
        service = EndpointService.objects.create(
            service_id="epsrv-matrix0000000000000",
            region_id="cn-hangzhou",
            status="active",
            owner=owner,
            **state,
        )
        route = route.replace("<str:service_id>", service.service_id)
        route = route.replace("<str:endpoint_id>", "ep-matrix000000000000000")
    if role != "anonymous":
        client.force_login(users[role])
    response = client.get(route) if method == "GET" else client.post(route, data)
    status = expected[role][0 if method == "GET" else 1]
    assert response.status_code == status, f"{method} {route} as {role}"
    if name == "oidc_authentication_init" and method == "GET":
        assert response.url.startswith("https://idp.example/authorize?")
    elif status == LOGIN and role == "anonymous" and name not in ("logout", "admin:index"):
        assert response.url.startswith("/accounts/login/")
