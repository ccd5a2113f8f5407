"""Every page of the portal, as the people who see it, for the browser tests that must look at
all of them (axe in test_browser_axe.py, 390 px in test_browser_narrow.py).

`visits(world)` is the one list. A page added to a urls.py without a visit here (or a reason in
NOT_PAGES) fails `test_every_url_of_the_portal_is_visited_or_said_why_not`; a page template no
visit renders fails the axe test. To add a page: make what it shows in `make_world`, then add
its visits.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import groupby
from pathlib import Path

from django.test import RequestFactory
from django.utils import timezone
from playwright.sync_api import expect

from portal.api.models import AccessToken
from portal.api.services import token_create, token_revoke
from portal.approvals import services as approval_services
from portal.endpoint_services.models import EndpointConnection, EndpointService
from portal.provisioning import services as provisioning
from portal.requests import services
from portal.service_requests.models import Deciders, Kind, ServiceRequest, State
from portal.teams.models import Membership, Role, Team
from tests.api.test_endpoints import API_MATRIX
from tests.api.test_endpoints import ROOT as API_ROOT
from tests.support.day2 import make_service, run
from tests.support.factories import ServiceRequestFactory, UserFactory
from tests.support.idp import log_in

PASSWORD = "portal-demo"
CAST = ("requester", "requester2", "teamlead", "approver", "approver2", "auditor", "admin")
CONSUMER = "1000000000000003"  # the account requester2 asks access for
OUTSIDER = "1000000000000009"  # on the allow-list, added in the console

# URL names that are not pages a person looks at, and why.
NOT_PAGES = {
    "logout": "POST only; answers with a redirect to the login page",
    "oidc_authentication_init": "answers with a redirect to the identity provider",
    "oidc_authentication_callback": "answers with a redirect: signed in, or the login page",
    "healthz": "JSON for load balancers and probes",
    "service_requests:status": "the request page's live fragment (its parts are on the page)",
    "service_requests:pending_count": "the navigation's badge, a fragment",
    "endpoint_services:status": "the service page's live fragment (its parts are on the page)",
    "history:export_csv": "a CSV download",
    "history:export_jsonl": "a JSON Lines download",
    **{
        f"service_requests:{name}": "POST only; answers with the request's page or a redirect"
        for name in ("submit", "validate", "clone", "approve", "reject", "send_back", "retry")
    },
    **{
        f"endpoint_services:{name}": "POST only; answers with the service's page or a redirect"
        for name in ("refresh", "accept_drift", "connection_accept", "connection_reject")
    },
    "tokens:revoke": "POST only; answers with a redirect to the tokens page",
    **{
        f"scim:{name}": "SCIM 2.0 for the identity provider's client: JSON, with its secret"
        for name in (
            "root",
            "search",
            "users-search",
            "users",
            "groups-search",
            "groups",
            "me",
            "bulk",
            "service-provider-config",
            "resource-types",
            "schemas",
        )
    },
    "service_requests:delegation_revoke": "POST only; answers with a redirect to the "
    "delegations page",
    # The HTTP API answers JSON (test_api.py); its docs page is django-ninja's Swagger UI,
    # loaded under the CSP in test_browser_api.py.
    **{
        name: "the HTTP API (JSON)"
        for name in {name for name, _method in API_MATRIX} | {API_ROOT[0]}
        if name != "api:openapi-view"
    },
    "api:openapi-view": "django-ninja's Swagger UI (test_browser_api.py)",
}


@dataclass(frozen=True)
class Visit:
    """A page as one person sees it: who, where, and what they do there first."""

    role: str  # a username of CAST, or "anonymous"
    path: str
    then: Callable | None = None  # what to do on the page before looking (show errors, ...)
    status: int = 200
    rendered: tuple | None = None  # (template, context) for a page no GET reaches
    note: str = ""

    def __str__(self):
        done = f" then {self.then.__doc__}" if self.then else ""
        return f"{self.role} {self.path}{done}{f' ({self.note})' if self.note else ''}"


def press(button):
    def act(page):
        page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_load_state()

    act.__doc__ = f"press {button!r}"
    return act


def clear_and_press(label, button):
    def act(page):
        # The label alone, or with the mark of a field needed to submit (" *").
        page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$")).fill("")
        press(button)(page)

    act.__doc__ = f"clear {label!r}, press {button!r}"
    return act


def wrong_password(page):
    """log in with a wrong password"""
    page.get_by_label("Username").fill("requester")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in with a password").click()
    expect(page.locator("main [role=alert]")).to_be_visible()


def make_token(page):
    """make a write token"""
    page.get_by_label("Name").fill("orders pipeline")
    page.get_by_label("Read and write").check()
    press("Make token")(page)
    expect(page.locator("#token-secret")).to_be_visible()


def stale_form(page):
    """send the form after the session's cookies are gone"""
    page.context.clear_cookies()
    page.get_by_label("Username").fill("requester")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in with a password").click()
    expect(page.locator("#error-page")).to_have_attribute("data-status", "403")


def validate_new_request(page):
    """fill the form in, validate (dry run)"""
    page.get_by_label("Region").select_option("cn-hangzhou")
    expect(page.locator("#zone-options option[value='cn-hangzhou-h']")).to_have_count(1)
    page.get_by_label("Service resource type").select_option("nlb")
    expect(page.get_by_label("Resource 1 type")).to_have_value("nlb")
    page.get_by_label("Service description").fill("Orders API")
    page.get_by_label("Resource 1 id").fill("nlb-hzpool000002")
    page.get_by_label("Resource 1 zone").fill("cn-hangzhou-h")
    page.get_by_role("button", name="Add tag").click()
    page.get_by_label("Tag 1 key").fill("team")
    page.get_by_label("Tag 1 value").fill("orders")
    page.get_by_label("Justification").fill("Checkout needs private access.")
    page.get_by_role("button", name="Validate (dry run)").click()
    expect(page.locator("[data-dry-run]")).to_be_visible()


def open_load_balancer_picker(page):
    """open the load balancer picker and choose one"""
    page.get_by_label("Region").select_option("cn-hangzhou")
    expect(page.locator("#zone-options option[value='cn-hangzhou-h']")).to_have_count(1)
    page.get_by_label("Service resource type").select_option("nlb")
    page.get_by_role("button", name="Choose from your load balancers").click()
    expect(page.locator("#lb-picker input[type=radio]").first).to_be_visible()
    page.locator("#lb-picker input[type=radio]:enabled").first.check()


@dataclass
class World:
    """What the pages show: requests in each state, services as each role sees them."""

    draft: int = 0
    pending: int = 0
    changes_requested: int = 0
    failed: int = 0
    creating: int = 0
    active: int = 0
    rejected: int = 0
    cancelled: int = 0
    change: int = 0
    decommission: int = 0
    access_pending: int = 0
    access_applied: int = 0
    resubmitted: int = 0
    team_change: int = 0
    someone_elses: int = 0
    service: str = "epsrv-x"
    drifted: str = "epsrv-d"
    unmanaged: str = "epsrv-u"
    users: dict = field(default_factory=dict)


def make_cast(groups):
    users = {name: UserFactory(username=name, password=PASSWORD) for name in CAST}
    for name in ("approver", "approver2"):
        users[name].groups.add(groups["approvers"])
    users["auditor"].groups.add(groups["auditors"])
    users["admin"].is_superuser = users["admin"].is_staff = True
    users["admin"].save()
    payments = Team.objects.create(name="payments")
    Membership.objects.create(team=payments, user=users["teamlead"], role=Role.APPROVER)
    return users


def make_world(users):
    """Requests in every state a page shows differently, and services seen by every role.

    The active service is made through the simulator (the worker's steps in-process), and the
    requests about it through the portal's services; the rest are rows as the factory writes
    them, with the history the portal would have written.
    """
    requester, requester2 = users["requester"], users["requester2"]
    approver = users["approver"]
    world = World(users=users)
    service = make_service(requester)
    world.active = service.requests.get().pk
    world.service = service.service_id

    access = services.access_request_create(
        requester=requester2,
        service=service,
        account_id=CONSUMER,
        justification="The checkout team's VPC calls the orders API.",
    )
    services.service_request_submit(service_request=access, actor=requester2)
    access.refresh_from_db()
    approval_services.service_request_decide(
        pk=access.pk, approver=requester, decision="approve", revision=access.revision
    )
    run(provisioning.service_request_apply, access.pk)
    world.access_applied = access.pk
    asking = services.access_request_create(
        requester=requester2,
        service=service,
        account_id="1000000000000004",
        justification="The billing team's VPC too.",
    )
    services.service_request_submit(service_request=asking, actor=requester2)
    world.access_pending = asking.pk

    service.refresh_from_db()
    config = service.config()
    change = services.change_request_create(
        requester=requester,
        service=service,
        fields={**config, "service_description": "Orders API v2", "justification": "Clearer."},
        resources=config["resources"],
        tags=config["tags"],
    )
    services.service_request_submit(service_request=change, actor=requester)
    world.change = change.pk
    world.decommission = services.decommission_request_create(
        requester=requester, service=service, justification="Replaced by orders-v2."
    ).pk

    # Connections as last read: one waiting for the owner, one connected, one turned down.
    service.refresh_from_db()
    service.allowed_users = sorted({*service.allowed_users, OUTSIDER})
    service.connections_read_at = timezone.now()
    service.save(update_fields=["allowed_users", "connections_read_at"])
    for n, status in enumerate(("Disconnected", "Connected", "Disconnected")):
        EndpointConnection.objects.create(
            service=service,
            endpoint_id=f"ep-axe{n}000000000000000",
            endpoint_owner_id=CONSUMER,
            endpoint_vpc_id=f"vpc-axe{n}000000000000000",
            status=status,
            bandwidth=1024,
            zones=["cn-hangzhou-h"],
            access_request=access,
            rejected_at=timezone.now() if n == 2 else None,
            rejected_by=requester if n == 2 else None,
        )

    drifted = EndpointService.objects.create(
        service_id="epsrv-axedrift0000000000",
        region_id="cn-hangzhou",
        status="active",
        owner=requester,
        service_name="com.aliyuncs.privatelink.cn-hangzhou.epsrv-axedrift0000000000",
        service_description="Payments API",
        service_resource_type="nlb",
        drifted=True,
        drift=['description: "Payments API" → "edited in the console"'],
        approved={"service_description": "Payments API"},
    )
    world.drifted = drifted.service_id
    # A service of the payments team, and a change of it that its approver decides.
    EndpointService.objects.filter(pk=drifted.pk).update(team=Team.objects.get(name="payments"))
    world.team_change = ServiceRequestFactory(
        kind=Kind.CHANGE,
        requester=requester,
        state=State.PENDING_APPROVAL,
        endpoint_service=drifted,
        service_id=drifted.service_id,
        service_description="Payments API v2",
        decided_by=Deciders.TEAM,
        deciding_team=Team.objects.get(name="payments"),
        routing_reason="a change without risk to a service of the payments team",
    ).pk
    world.unmanaged = EndpointService.objects.create(
        service_id="epsrv-axeunmanaged000000",
        region_id="cn-hangzhou",
        status="active",
        managed=False,
        service_description="Found in the console",
        service_resource_type="nlb",
    ).service_id

    def request(state, **fields):
        return ServiceRequestFactory(
            requester=requester,
            state=state,
            tags=[("team", "orders")],
            **fields,
        ).pk

    world.draft = request(State.DRAFT, service_description="Inventory API")
    world.pending = request(
        State.PENDING_APPROVAL,
        service_description="Search API for the storefront, a description long enough to wrap",
        justification="The storefront's search calls it from three VPCs in two regions; "
        "the approvers asked for the traffic estimate: 40 MB/s at peak.",
    )
    world.changes_requested = request(State.CHANGES_REQUESTED)
    ServiceRequest.objects.get(pk=world.changes_requested).record(
        "send_back", actor=approver, comment="Name the team in the description."
    )
    world.failed = request(
        State.FAILED,
        error_code="EndpointServiceQuotaExceeded",
        error_message="The region's quota of endpoint services is used up.",
        cloud_request_id="5E1B2A3C-0000-4000-8000-000000000001",
    )
    now = timezone.now()
    world.creating = request(
        State.CREATING,
        service_id="epsrv-axecreating0000000",
        provisioning_started_at=now,
        last_cloud_action="GetVpcEndpointServiceAttribute",
        last_cloud_outcome="Throttling.User",
        last_cloud_at=now,
        next_step_at=now + timedelta(seconds=4),
    )
    world.rejected = request(State.REJECTED)
    world.cancelled = request(State.CANCELLED)
    world.resubmitted = resubmitted(requester, approver, users["approver2"])
    # API tokens: one in use, one revoked.
    used, _secret = token_create(user=requester, name="ci", scope="read")
    AccessToken.objects.filter(pk=used.pk).update(
        last_used_at=timezone.now(), last_used_ip="10.0.0.7"
    )
    token_revoke(
        token=token_create(user=requester, name="old laptop", scope="write")[0], actor=requester
    )
    # approver2 is away: requester2 decides for them (the queue's labelled rows and banner).
    approval_services.delegation_create(
        delegator=users["approver2"],
        delegate=requester2,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=14),
        reason="Conference week",
    )
    world.someone_elses = ServiceRequestFactory(
        requester=UserFactory(username="stranger"), state=State.PENDING_APPROVAL
    ).pk
    return world


def resubmitted(requester, approver, approver2):
    """A request sent back, edited and submitted again, and approved once since: the
    approver's panel with comments, a diff, and who may still approve."""
    request = ServiceRequestFactory(
        requester=requester,
        service_description="Ledger API",
        auto_accept_enabled=True,
        tags=[("team", "ledger")],
    )
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    approval_services.service_request_decide(
        pk=request.pk,
        approver=approver,
        decision="send_back",
        revision=request.revision,
        comment="Say which team runs it, and tag the environment.",
    )
    fields, resources, _tags = request.create_parameters()
    fields.update(
        service_description="Ledger API (payments team)",
        justification=f"{request.justification} The payments team runs it.",
    )
    tags = [{"key": "team", "value": "payments"}, {"key": "env", "value": "prod"}]
    services.service_request_update(
        pk=request.pk, actor=requester, fields=fields, resources=resources, tags=tags
    )
    request.refresh_from_db()
    services.service_request_submit(service_request=request, actor=requester)
    request.refresh_from_db()
    approval_services.service_request_decide(
        pk=request.pk,
        approver=approver2,
        decision="approve",
        revision=request.revision,
        comment="Fine by me.",
    )
    return request.pk


def visits(w):
    """Every page, as each person who sees it (grouped by person: one log-in each)."""
    service = f"/services/{w.service}"
    submit = press("Submit for approval")
    return [
        Visit("anonymous", "/accounts/login/"),
        Visit("anonymous", "/accounts/login/", wrong_password),
        Visit("anonymous", "/accounts/login/", stale_form),
        *[
            Visit("requester", f"/requests/{pk}/", note=note)
            for note, pk in [
                ("draft", w.draft),
                ("pending", w.pending),
                ("changes requested", w.changes_requested),
                ("failed", w.failed),
                ("creating, the cloud busy", w.creating),
                ("active", w.active),
                ("rejected", w.rejected),
                ("cancelled", w.cancelled),
                ("change, pending", w.change),
                ("decommission, draft", w.decommission),
                ("access asked of the owner", w.access_pending),
                ("access applied", w.access_applied),
            ]
        ],
        Visit("requester", "/"),
        Visit("requester", "/accounts/signed-in/"),
        Visit("requester", "/requests/new/"),
        Visit("requester", "/requests/new/", submit),
        Visit("requester", "/requests/new/", validate_new_request),
        Visit("requester", "/requests/new/", open_load_balancer_picker),
        Visit(
            "requester", "/requests/load-balancers/?region_id=cn-hangzhou&service_resource_type=alb"
        ),
        Visit("requester", f"/requests/{w.draft}/edit/"),
        Visit(
            "requester",
            f"/requests/{w.draft}/edit/",
            clear_and_press("Justification", "Submit for approval"),
        ),
        Visit("requester", f"/requests/{w.pending}/cancel/"),
        Visit("requester", f"/requests/{w.failed}/calls/"),
        Visit("requester", "/services/"),
        Visit("requester", "/services/?q=orders&status=active"),
        Visit("requester", f"{service}/", note="owner"),
        Visit("requester", f"/services/{w.drifted}/", note="drift"),
        Visit("requester", f"{service}/change/"),
        Visit(
            "requester",
            f"{service}/change/",
            clear_and_press("Justification", "Submit for approval"),
        ),
        Visit("requester", f"{service}/decommission/"),
        Visit("requester", f"{service}/decommission/", submit),
        Visit("requester", f"{service}/transfer/"),
        Visit("requester", f"{service}/transfer/", submit),
        Visit("requester", f"{service}/revoke/?account={OUTSIDER}"),
        Visit("requester", f"{service}/revoke/", submit),
        Visit("requester", "/account/tokens/"),
        Visit("requester", "/account/tokens/", make_token),
        Visit("requester", "/account/tokens/", press("Make token")),
        Visit("requester", "/approvals/", status=403),
        Visit("requester", "/no-such-page/", status=404),
        Visit("requester", f"/requests/{w.someone_elses}/", status=404),
        Visit("requester2", "/"),
        Visit("requester2", f"{service}/", note="consumer"),
        Visit("requester2", f"{service}/access/"),
        Visit("requester2", f"{service}/access/", press("Ask for access")),
        Visit("requester2", f"/requests/{w.access_applied}/", note="access applied"),
        Visit("requester2", f"{service}/change/", status=403),
        Visit("approver", "/"),
        Visit("approver", "/approvals/"),
        Visit("approver", "/insights/"),
        Visit("approver", f"/requests/{w.pending}/", note="decision forms"),
        Visit("approver", f"/requests/{w.resubmitted}/", note="resubmitted: what changed"),
        Visit("approver", f"/requests/{w.pending}/", press("Send back"), note="no comment"),
        Visit("approver", f"/requests/{w.failed}/", note="retry"),
        Visit("approver", f"/requests/{w.change}/", note="change, pending"),
        Visit("approver", f"{service}/", note="approver"),
        Visit("approver", "/services/unmanaged/"),
        Visit("approver", f"/services/{w.unmanaged}/"),
        Visit("approver", f"/services/{w.unmanaged}/adopt/"),
        Visit("approver", f"/services/{w.unmanaged}/adopt/", submit),
        Visit("approver2", "/approvals/", note="waiting for others; lent to requester2"),
        Visit("approver", "/account/delegations/"),
        Visit("approver", "/account/delegations/", press("Delegate"), note="no delegate"),
        Visit("requester2", "/account/delegations/", note="received"),
        Visit("requester2", "/approvals/", note="delegated rows"),
        Visit("admin", "/account/delegations/", note="everyone's"),
        Visit("teamlead", "/approvals/", note="a team's approver"),
        Visit("teamlead", f"/requests/{w.team_change}/", note="routed to the team"),
        Visit("auditor", "/audit/"),
        Visit("auditor", "/audit/access/"),
        Visit("auditor", "/insights/?start=2026-13-01"),
        Visit("auditor", "/audit/?state=failed&region=cn-hangzhou"),
        Visit("auditor", f"/audit/requests/{w.active}/"),
        Visit("auditor", f"/audit/requests/{w.change}/"),
        Visit("auditor", f"/requests/{w.failed}/", note="auditor"),
        Visit("auditor", f"{service}/", note="auditor"),
        Visit("auditor", "/services/"),
        Visit("auditor", "/services/unmanaged/"),
        Visit("auditor", "/requests/new/", status=403),
        Visit("auditor", "/account/tokens/"),
        Visit("admin", "/"),
        Visit("admin", "/admin/"),
        # Pages no GET reaches, rendered as their views render them, at a made-up address.
        *[
            Visit("requester", f"/_rendered/{name}", status=status, rendered=(name, context))
            for name, status, context in [
                ("500.html", 500, {}),
                ("400.html", 400, {}),
                ("conflict.html", 409, {"message": "the request moved on", "back": "/"}),
                ("too_many.html", 429, {"limit": 30, "back": "/", "wait": 42}),
                ("signed_out.html", 401, {}),
                ("registration/locked_out.html", 403, {"cooloff_time": "15 minutes"}),
            ]
        ],
    ]


def url_names(world):
    """The URL names the visits reach."""
    from django.urls import Resolver404, resolve

    names = set()
    for visit in visits(world):
        try:
            match = resolve(visit.path.split("?")[0])
        except Resolver404:
            continue
        names.add(match.view_name)
    return names


def render(visit, user):
    """The HTML of a page no GET reaches, rendered as its view renders it for `user`."""
    from django.template.loader import render_to_string

    request = RequestFactory().get(visit.path)
    request.user = user
    template, context = visit.rendered
    return render_to_string(template, context, request=request)


AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"


def walk(browser, base, world, look, **context_options):
    """Visit every page, role by role (in browser contexts made with `context_options`), and
    return what `look(page, visit)` finds, page by page."""
    found = []
    for role, group in groupby(visits(world), key=lambda v: v.role):
        context = browser.new_context(**context_options)
        # An init script is not subject to the page's Content-Security-Policy (script-src
        # 'self'), so axe runs on the page exactly as the portal serves it.
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        if role != "anonymous":
            log_in(page, base, role)
        for visit in group:
            if visit.rendered:
                html = render(visit, world.users[role])
                page.route(f"{base}{visit.path}", serve(html, visit.status))
            response = page.goto(f"{base}{visit.path}")
            assert response.status == visit.status, str(visit)
            if visit.then:
                visit.then(page)
            found += [f"{visit}: {problem}" for problem in look(page, visit)]
        context.close()
    return found


def serve(html, status):
    def fulfil(route, request):
        route.fulfill(status=status, content_type="text/html", body=html)

    return fulfil
