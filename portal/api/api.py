"""The HTTP API (/api/v1/): what the pages do, for pipelines, signed with a personal token.

Each endpoint looks the object up and calls the same selectors, policy and service functions
as its page, and translates their answers: not visible 404, not allowed 403, a refusal of
the moment (a stale revision, a state that moved, a request already open) 409, bad input 422
with the field at fault, a spent budget 429 with Retry-After. No rule of who may do what
lives here.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils import timezone
from ninja import NinjaAPI, Query, Router, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaInvalid

from portal.api import auth, schemas
from portal.api import selectors as api_selectors
from portal.api import services as api_services
from portal.cloud import services as cloud
from portal.endpoint_services import connections
from portal.endpoint_services import services as endpoint_services
from portal.endpoint_services.filters import ServiceFilter
from portal.endpoint_services.models import EndpointService, ServiceStatus
from portal.endpoint_services.selectors import (
    access_requests_by_account,
    connections_listed,
    service_consumers_for_user,
    service_events_listed,
    service_for_user,
    service_requests_listed,
    service_to_manage,
    unmanaged_services,
)
from portal.history import exports
from portal.history import selectors as audit_selectors
from portal.lib.limits import cloud_budget_wait
from portal.lib.paging import MAX_PAGE
from portal.service_requests import policy, selectors, services
from portal.service_requests.forms import (
    CHANGE_FIELDS,
    EDITABLE_FIELDS,
    AccessForm,
    AdoptionForm,
    DecisionForm,
    DecommissionForm,
    DelegationForm,
    RequestEditor,
    RevokeForm,
    SendBackForm,
    TransferForm,
    posted_data,
)
from portal.service_requests.integrity import request_events_verify
from portal.service_requests.models import (
    USER_ACTIONS,
    Decision,
    Delegation,
    ServiceRequest,
    State,
    TransitionNotAllowed,
)
from portal.service_requests.step_log import request_step_log
from portal.teams.models import Membership, Team

PAGE_SIZE = 50
EVENTS_PAGE_SIZE = 100
ERRORS = {
    401: schemas.Error,
    403: schemas.Error,
    404: schemas.Error,
    409: schemas.Error,
    422: schemas.Error,
    429: schemas.Error,
}


class Invalid(Exception):
    """Input the forms refused: [(field, message)]."""

    def __init__(self, errors, detail="The request has errors, each at its field."):
        super().__init__(detail)
        self.errors = errors


api = NinjaAPI(
    title="PrivateLink portal API",
    version="1",
    description=(
        "Everything the portal's pages do, for pipelines. Sign each call with a personal "
        "access token (`Authorization: Bearer plp_…`), made on /account/tokens/: a read "
        "token reads, a write token also files and decides. See docs/pipeline.md."
    ),
    urls_namespace="api",
    auth=auth.read,
    # The docs page's Swagger UI is served from the portal's static files (ninja is an
    # installed app), under the Content-Security-Policy; no validator badge from outside.
    docs=Swagger(settings={"validatorUrl": None}),
)


def _error(request, status, detail, errors=()):
    body = {"detail": detail, "errors": [{"field": f, "message": m} for f, m in errors]}
    return api.create_response(request, body, status=status)


@api.exception_handler(Invalid)
def _invalid(request, exc):
    return _error(request, 422, str(exc), exc.errors)


@api.exception_handler(SchemaInvalid)
def _schema_invalid(request, exc):
    errors = []
    for error in exc.errors:
        # ("body", "payload", "resources", 0, "zone_id") -> "resources.0.zone_id"
        where = [str(part) for part in error.get("loc", ())[1:]]
        if where and error["loc"][0] == "body" and len(where) > 1:
            where = where[1:]
        errors.append((".".join(where) or "__all__", error.get("msg", "Invalid.")))
    return _error(request, 422, "The request has errors, each at its field.", errors)


@api.exception_handler(AuthenticationError)
@api.exception_handler(auth.Unauthorized)
def _unauthorized(request, exc):
    detail = str(exc) if isinstance(exc, auth.Unauthorized) else "Sign the call with a token."
    response = _error(request, 401, detail)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(auth.ScopeRefused)
@api.exception_handler(PermissionDenied)
@api.exception_handler(services.NotAllowed)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or "Not allowed.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(services.DecisionRefused)
@api.exception_handler(TransitionNotAllowed)
@api.exception_handler(connections.ConnectionRefused)
@api.exception_handler(endpoint_services.ServiceRefused)
def _conflict(request, exc):
    return _error(request, 409, f"{exc}")


@api.exception_handler(auth.RateLimited)
def _rate_limited(request, exc):
    response = _error(request, 429, f"{exc} Try again in {exc.retry_after} s.")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return _error(request, exc.status_code, str(exc))


def _cloud_budget(request):
    """Count a call that makes the portal call the cloud, as the pages do (per user)."""
    wait = cloud_budget_wait(request)
    if wait is not None:
        raise auth.RateLimited(wait, "You made the portal call the cloud too often this minute.")


def _page_of(queryset, page, size=PAGE_SIZE):
    """(rows, has_next) of page `page`, without counting the whole set."""
    if page > MAX_PAGE:
        raise Http404("No such page.")
    offset = (max(1, page) - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return rows[:size], len(rows) > size


# --- what the answers hold ---------------------------------------------------------------


def _absolute(request, path):
    return request.build_absolute_uri(path)


def _request_summary(request, service_request):
    return {
        "id": service_request.pk,
        "kind": service_request.kind,
        "state": service_request.state,
        "revision": service_request.revision,
        "region_id": service_request.region_id,
        "service_description": service_request.service_description,
        "service_id": service_request.service_id,
        "service_name": service_request.service_name,
        "requester": service_request.requester.get_username(),
        "created_at": service_request.created_at,
        "submitted_at": service_request.submitted_at,
        "url": _absolute(request, service_request.get_absolute_url()),
    }


def _requirement(service_request):
    requirement = policy.required_approvals(service_request)
    return {
        "needed": requirement.needed,
        "reasons": list(requirement.reasons),
        "text": str(requirement),
    }


def _request_out(request, service_request):
    """The request as its page shows it to `request.user`, status, plan and approvals."""
    service_request.refresh_from_db()
    fields, resources, tags = service_request.create_parameters()
    digest = service_request.digest()
    actions = service_request.available_actions(request.user)
    dry_run = None
    if service_request.dry_run_ok is not None:
        dry_run = {
            "ok": service_request.dry_run_ok,
            "code": service_request.dry_run_code,
            "message": service_request.dry_run_message,
        }
    target = service_request.target_owner
    pending = service_request.state == State.PENDING_APPROVAL
    deciders = policy.routed(service_request)
    return {
        **_request_summary(request, service_request),
        **fields,
        "digest": digest,
        "service_domain": service_request.service_domain,
        "connect_bandwidth": service_request.connect_bandwidth,
        "account_id": service_request.account_id,
        "target_owner": target.get_username() if target else None,
        "target_team": service_request.target_team.name if service_request.target_team else None,
        "deciders": {
            "deciders": deciders.deciders,
            "team": deciders.team.name if deciders.team else None,
            "who": deciders.who,
            "reason": deciders.reason,
        },
        "justification": service_request.justification,
        "resources": resources,
        "tags": tags,
        "plan": [
            {
                "position": op.position,
                "action": op.action,
                "params": op.params,
                "summary": op.summary,
                "state": op.state,
                "outcome": op.outcome,
                "cloud_request_id": op.cloud_request_id,
            }
            for op in service_request.operations.all()
        ],
        "approvals": [
            {
                "approver": approval.approver.get_username(),
                "on_behalf_of": (
                    approval.on_behalf_of.get_username() if approval.on_behalf_of_id else None
                ),
                "decision": approval.decision,
                "revision": approval.revision,
                "current": approval.revision == service_request.revision
                and approval.digest == digest,
                "comment": approval.comment,
                "created_at": approval.created_at,
            }
            for approval in service_request.approvals.select_related("approver", "on_behalf_of")
        ],
        "requirement": _requirement(service_request),
        "shortfall": policy.policy_shortfall(service_request) if pending else None,
        "available_actions": [action for action in USER_ACTIONS if action in actions],
        "dry_run": dry_run,
        "error_code": service_request.error_code,
        "error_message": service_request.error_message,
        "cloud_status": service_request.cloud_status,
        "cloud_request_id": service_request.cloud_request_id,
        "decided_at": service_request.decided_at,
        "state_changed_at": service_request.state_changed_at,
    }


def _dry_run_out(result):
    return {
        "ok": result.ok,
        "code": result.code,
        "message": result.message,
        "field": getattr(result, "field", "") or "",
        "at_fault": [
            {k: str(v or "") for k, v in row.items()} for row in getattr(result, "at_fault", [])
        ],
    }


def _service_summary(request, service):
    return {
        "service_id": service.service_id,
        "service_name": service.service_name,
        "service_domain": service.service_domain,
        "region_id": service.region_id,
        "status": service.status,
        "managed": service.managed,
        "owner": service.owner.get_username() if service.owner_id else None,
        "team": service.team.name if service.team_id else None,
        "service_description": service.service_description,
        "service_resource_type": service.service_resource_type,
        "created_at": service.created_at,
        "url": _absolute(request, service.get_absolute_url()),
    }


# --- input to forms ----------------------------------------------------------------------


def _rows(items):
    return [item.dict() for item in items]


def _editor_errors(editor):
    """[(field, message)] of a request form, rows named by position."""
    errors = [
        (name, message) for name, messages in editor.form.errors.items() for message in messages
    ]
    for name, formset in (("resources", editor.resources), ("tags", editor.tags)):
        errors += [(name, message) for message in formset.non_form_errors()]
        for i, form_errors in enumerate(formset.errors):
            for field, messages in form_errors.items():
                errors += [(f"{name}.{i}.{field}", message) for message in messages]
    return errors


def _form_errors(form):
    return [(name, message) for name, messages in form.errors.items() for message in messages]


def _team_pk(name):
    """The id of the team called `name` (for a form's choice), or a 422 at `team`."""
    team = Team.objects.filter(name=name).first()
    if team is None:
        raise Invalid([("team", f"No team is called {name!r}.")])
    return team.pk


def _team_heard(editor, named):
    """Refuse a team named by someone in none (the form then has no team to choose): the
    page does not offer one, and the API must not drop it without a word."""
    if named and "team" not in editor.form.fields:
        raise Invalid(
            [
                (
                    "team",
                    "You are in no team: leave `team` out; the service will be yours until it "
                    "is transferred to a team.",
                )
            ]
        )


def _valid_editor(values, names, resources, tags, service=None, requester=None):
    if values.get("team"):
        values = {**values, "team": _team_pk(values["team"])}
        names = [*names, "team"]
    editor = RequestEditor(
        posted_data(names, values, resources, tags), service=service, requester=requester
    )
    _team_heard(editor, values.get("team"))
    if not editor.is_valid():
        raise Invalid(_editor_errors(editor))
    return editor


def _created(request, service_request):
    response = api.create_response(request, _request_out(request, service_request), status=201)
    response["Location"] = _absolute(request, reverse("api:request", args=[service_request.pk]))
    return response


def _refused_at(field, error):
    """A refusal about one field's value (an account already asked for): 409 at the field."""
    raise _FieldConflict(str(error), [(field, str(error))])


class _FieldConflict(Exception):
    def __init__(self, detail, errors):
        super().__init__(detail)
        self.errors = errors


@api.exception_handler(_FieldConflict)
def _field_conflict(request, exc):
    return _error(request, 409, str(exc), exc.errors)


# --- who calls ---------------------------------------------------------------------------


@api.get("/me", response={200: schemas.Me, **ERRORS}, url_name="me", tags=["account"])
def me(request):
    """The token's user, their roles and the token's scope."""
    user = request.user
    roles = [
        role
        for role, has in (
            ("approver", policy.is_approver(user)),
            ("auditor", policy.is_auditor(user)),
            ("admin", user.is_superuser),
        )
        if has
    ]
    return {
        "username": user.get_username(),
        "roles": roles,
        "teams": [
            {"name": name, "role": role}
            for name, role in Membership.objects.filter(user=user)
            .order_by("team__name")
            .values_list("team__name", "role")
        ],
        "token": request.auth.label,
        "scope": request.auth.scope,
        "expires_at": request.auth.expires_at,
    }


def _token_out(token):
    return {
        "id": token.pk,
        "name": token.name,
        "label": token.label,
        "scope": token.scope,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "last_used_ip": token.last_used_ip,
        "revoked_at": token.revoked_at,
        "usable": token.is_usable,
    }


@api.get(
    "/tokens", response={200: list[schemas.TokenOut], **ERRORS}, url_name="tokens", tags=["account"]
)
def token_list(request):
    """The caller's tokens, newest first, without their secrets (made on /account/tokens/)."""
    return [_token_out(token) for token in request.user.access_tokens.all()]


@api.post(
    "/tokens/{int:pk}/revoke",
    response={200: schemas.TokenOut, **ERRORS},
    auth=auth.write,
    url_name="token_revoke",
    tags=["account"],
)
def token_revoke(request, pk: int):
    """Revoke one of the caller's tokens (this one too): it gets 401 from then on."""
    token = api_selectors.token_of_user(request.user, pk)
    return _token_out(api_services.token_revoke(token=token, actor=request.user))


# --- requests ----------------------------------------------------------------------------

requests_router = Router(tags=["requests"])


@requests_router.get("", response={200: schemas.RequestPage, **ERRORS}, url_name="requests")
def request_list(request, page: int = 1):
    """The caller's own requests, newest first."""
    rows, has_next = _page_of(
        ServiceRequest.objects.filter(requester=request.user)
        .select_related("requester")
        .order_by("-created_at", "-id"),
        page,
    )
    return {
        "items": [_request_summary(request, r) for r in rows],
        "page": page,
        "has_next": has_next,
    }


@requests_router.post(
    "", response={201: schemas.RequestOut, **ERRORS}, auth=auth.write, url_name="requests"
)
def request_create(request, payload: schemas.CreateIn):
    """File a request for a new endpoint service, as a draft (submit it next)."""
    values = payload.dict()
    editor = _valid_editor(
        values,
        EDITABLE_FIELDS,
        _rows(payload.resources),
        _rows(payload.tags),
        requester=request.user,
    )
    fields, resources, tags = editor.cleaned()
    service_request = services.service_request_create(
        requester=request.user,
        fields=services.create_fields_from(fields),
        resources=resources,
        tags=tags,
    )
    return _created(request, service_request)


@requests_router.get("/{int:pk}", response={200: schemas.RequestOut, **ERRORS}, url_name="request")
def request_detail(request, pk: int):
    """A request's state, content, plan, approvals and what the caller may do to it."""
    return _request_out(request, selectors.request_for_user(request.user, pk))


@requests_router.put(
    "/{int:pk}", response={200: schemas.RequestOut, **ERRORS}, auth=auth.write, url_name="request"
)
def request_edit(request, pk: int, payload: schemas.EditIn):
    """Edit one's draft, or a request sent back (create and change requests); the approvals
    of the earlier revision are discarded, as on the page."""
    service_request = selectors.own_request(request.user, pk)
    if "edit" not in service_request.available_actions(request.user):
        raise services.DecisionRefused(
            "Only drafts and requests sent back for changes can be edited, and only the kinds "
            "with a form (create, change): cancel the others and file them again."
        )
    names = EDITABLE_FIELDS if service_request.is_create else [*CHANGE_FIELDS, "justification"]
    _fields, resources, tags = service_request.create_parameters()
    given = payload.dict(exclude_none=True, exclude={"revision"})
    values = {name: getattr(service_request, name) for name in names}
    values.update({name: given[name] for name in names if name in given})
    if service_request.is_create:
        names = [*names, "team"]
        values["team"] = (
            _team_pk(given["team"]) if given.get("team") else service_request.target_team_id
        )
    editor = RequestEditor(
        posted_data(names, values, given.get("resources", resources), given.get("tags", tags)),
        instance=service_request,
    )
    _team_heard(editor, given.get("team"))
    if not editor.is_valid():
        raise Invalid(_editor_errors(editor))
    fields, resources, tags = editor.cleaned()
    services.service_request_update(
        pk=service_request.pk,
        actor=request.user,
        fields=fields,
        resources=resources,
        tags=tags,
        expected_revision=payload.revision,
    )
    return _request_out(request, service_request)


@requests_router.post(
    "/{int:pk}/validate",
    response={200: schemas.DryRunOut, **ERRORS},
    auth=auth.write,
    url_name="validate",
)
def request_validate(request, pk: int):
    """Ask the cloud whether it would accept the request as saved (a dry run)."""
    service_request = selectors.request_to_validate(request.user, pk)
    _cloud_budget(request)
    result = services.service_request_dry_run(service_request=service_request, actor=request.user)
    return _dry_run_out(result)


@requests_router.post(
    "/{int:pk}/submit",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="submit",
)
def request_submit(request, pk: int):
    """Dry-run the request and put it in the approvers' queue; 422 if the cloud would refuse."""
    service_request = selectors.own_request(request.user, pk)
    _cloud_budget(request)
    result = services.service_request_submit(service_request=service_request, actor=request.user)
    if service_request.state != State.PENDING_APPROVAL:
        raise Invalid(
            [(getattr(result, "field", "") or "__all__", result.message)],
            detail=f"Not submitted: {result.message}",
        )
    return _request_out(request, service_request)


@requests_router.post(
    "/{int:pk}/cancel",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="cancel",
)
def request_cancel(request, pk: int):
    """Cancel one's own request before it is approved."""
    service_request = selectors.own_request(request.user, pk)
    services.service_request_cancel(pk=service_request.pk, actor=request.user)
    return _request_out(request, service_request)


@requests_router.post(
    "/{int:pk}/clone",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="clone",
)
def request_clone(request, pk: int):
    """Start a new draft of one's own from a create request's parameters and justification."""
    source = selectors.request_to_clone(request.user, pk)
    return _created(request, services.service_request_clone(source=source, actor=request.user))


def _decide(request, pk, decision, form_class, payload):
    service_request = selectors.request_to_decide(request.user, pk)
    form = form_class(payload.dict())
    if not form.is_valid():
        raise Invalid(_form_errors(form))
    services.service_request_decide(
        pk=service_request.pk,
        approver=request.user,
        decision=decision,
        revision=form.cleaned_data["revision"],
        digest=form.cleaned_data["digest"],
        comment=form.cleaned_data["comment"],
    )
    return _request_out(request, service_request)


DECISION_HELP = (
    " Name the `revision` and `digest` you read (GET the request): a decision on content "
    "that changed since is refused with 409."
)


@requests_router.post(
    "/{int:pk}/approve",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="approve",
    description="Approve the request." + DECISION_HELP,
)
def request_approve(request, pk: int, payload: schemas.DecisionIn):
    return _decide(request, pk, Decision.APPROVE, DecisionForm, payload)


@requests_router.post(
    "/{int:pk}/reject",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="reject",
    description="Reject the request." + DECISION_HELP,
)
def request_reject(request, pk: int, payload: schemas.DecisionIn):
    return _decide(request, pk, Decision.REJECT, DecisionForm, payload)


@requests_router.post(
    "/{int:pk}/send-back",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="send_back",
    description="Send the request back to its requester; `comment` says what to change."
    + DECISION_HELP,
)
def request_send_back(request, pk: int, payload: schemas.DecisionIn):
    return _decide(request, pk, Decision.SEND_BACK, SendBackForm, payload)


@requests_router.post(
    "/{int:pk}/retry",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="retry",
)
def request_retry(request, pk: int):
    """Restart a failed request with the same ClientTokens (approvers)."""
    service_request = selectors.request_to_retry(request.user, pk)
    services.service_request_retry(pk=service_request.pk, actor=request.user)
    return _request_out(request, service_request)


@requests_router.get(
    "/{int:pk}/events", response={200: schemas.EventPage, **ERRORS}, url_name="events"
)
def request_events(request, pk: int, page: int = 1):
    """The request's audit events, oldest first, 100 a page (auditors)."""
    service_request = audit_selectors.request_for_auditor(request.user, pk)
    rows, has_next = _page_of(
        service_request.events.select_related("actor").order_by("seq"), page, EVENTS_PAGE_SIZE
    )
    items = [
        {
            "seq": event.seq,
            "action": event.action,
            "actor": event.actor_label,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "comment": event.comment,
            "details": event.details,
            "created_at": event.created_at,
            "hash": event.hash,
        }
        for event in rows
    ]
    return {"items": items, "page": page, "has_next": has_next}


@requests_router.get(
    "/{int:pk}/calls", response={200: schemas.StepLogOut, **ERRORS}, url_name="calls"
)
def request_calls(request, pk: int, before: int | None = None):
    """The request's life step by step, with the cloud calls made in each (the newest 100
    events' worth; `before` an answer's `oldest_seq` for the earlier ones)."""
    service_request = selectors.request_for_user(request.user, pk)
    log = request_step_log(
        service_request=service_request,
        operations=list(service_request.operations.all()),
        before=before,
    )
    steps = [
        {
            **{name: getattr(step, name) for name in STEP_FIELDS},
            "calls": [
                {**{name: getattr(c, name) for name in CALL_FIELDS}, "verdict": c.verdict}
                for c in step.calls
            ],
        }
        for step in log.steps
    ]
    return {"steps": steps, "earlier_calls": log.earlier_calls, "oldest_seq": log.oldest_seq}


STEP_FIELDS = (
    "label",
    "state",
    "operation",
    "operation_action",
    "status",
    "by",
    "began",
    "started_at",
    "ended_at",
    "seconds",
    "error",
    "notes",
)
CALL_FIELDS = (
    "at",
    "action",
    "outcome",
    "request_id",
    "duration_ms",
    "dry_run",
    "already_done",
    "retry",
)


@requests_router.get(
    "/{int:pk}/chain", response={200: schemas.ChainOut, **ERRORS}, url_name="chain"
)
def request_chain(request, pk: int):
    """Whether the request's audit events are sealed and explain it as it is (auditors)."""
    report = request_events_verify(audit_selectors.request_for_auditor(request.user, pk))
    return {
        "ok": report.ok,
        "events_checked": report.events_checked,
        "broken_event": report.broken_event,
        "message": report.message,
    }


@api.get(
    "/approvals",
    response={200: schemas.QueuePage, **ERRORS},
    url_name="queue",
    tags=["requests"],
)
def approval_queue(request, page: int = 1):
    """The requests waiting for the caller's decision, oldest submission first (approvers)."""
    if page > MAX_PAGE:
        raise Http404("No such page.")
    split = selectors.approval_queue(request.user, page, others_per_page=0)
    found = split.mine
    rows = list(found.object_list) if found is not None else []
    if page == 1:
        rows += split.delegated
    items = [
        {
            **_request_summary(request, item),
            "approvals_so_far": item.approvals_so_far,
            "requirement": {
                "needed": item.requirement.needed,
                "reasons": list(item.requirement.reasons),
                "text": str(item.requirement),
            },
            "on_behalf_of": (
                item.for_delegator.get_username() if hasattr(item, "for_delegator") else None
            ),
            "delegated_until": getattr(item, "delegated_until", None),
        }
        for item in rows
    ]
    return {
        "items": items,
        "page": found.number if found is not None else 1,
        "has_next": found.has_next() if found is not None else False,
        "count": (found.paginator.count if found is not None else 0) + len(split.delegated),
        "lent": [{"delegate": d.delegate.get_username(), "ends_at": d.ends_at} for d in split.lent],
    }


# --- delegations -------------------------------------------------------------------------

delegations_router = Router(tags=["account"])


def _delegation_out(delegation):
    return {
        "id": delegation.pk,
        "delegator": delegation.delegator.get_username(),
        "delegate": delegation.delegate.get_username(),
        "starts_at": delegation.starts_at,
        "ends_at": delegation.ends_at,
        "reason": delegation.reason,
        "created_at": delegation.created_at,
        "revoked_at": delegation.revoked_at,
        "revoked_by": delegation.revoked_by.get_username() if delegation.revoked_by else None,
        "status": delegation.status(),
    }


@delegations_router.get(
    "", response={200: schemas.DelegationList, **ERRORS}, url_name="delegations"
)
def delegation_list(request):
    """The delegations the caller gave and holds, newest first (100 of each at most)."""
    delegations = Delegation.objects.select_related("delegator", "delegate", "revoked_by")
    return {
        "given": [_delegation_out(d) for d in delegations.filter(delegator=request.user)[:100]],
        "received": [_delegation_out(d) for d in delegations.filter(delegate=request.user)[:100]],
    }


@delegations_router.post(
    "",
    response={201: schemas.DelegationOut, **ERRORS},
    auth=auth.write,
    url_name="delegations",
)
def delegation_create(request, payload: schemas.DelegationIn):
    """Lend the caller's deciding to `delegate` for [starts_at, ends_at) (approvers): the
    delegate decides with the caller's right only; one delegate at a time."""
    if not policy.may_delegate(request.user):
        raise services.NotAllowed("Only those who decide requests can delegate their deciding.")
    values = payload.dict()
    form = DelegationForm(
        {
            "delegate": values["delegate"],
            "starts_at": values["starts_at"] or "",
            "ends_at": values["ends_at"],
            "reason": values["reason"],
        },
        delegator=request.user,
    )
    if not form.is_valid():
        raise Invalid(_form_errors(form))
    data = form.cleaned_data
    try:
        delegation = services.delegation_create(
            delegator=request.user,
            delegate=data["delegate"],
            starts_at=data["starts_at"] or timezone.now(),
            ends_at=data["ends_at"],
            reason=data["reason"],
        )
    except services.DelegationInvalid as error:
        raise Invalid([(error.field, str(error))]) from error
    return api.create_response(request, _delegation_out(delegation), status=201)


@delegations_router.post(
    "/{int:pk}/revoke",
    response={200: schemas.DelegationOut, **ERRORS},
    auth=auth.write,
    url_name="delegation_revoke",
)
def delegation_revoke(request, pk: int):
    """End a delegation now: its delegator, its delegate, or an admin."""
    delegation = selectors.delegation_for_user(request.user, pk)
    return _delegation_out(services.delegation_revoke(delegation=delegation, actor=request.user))


@api.get(
    "/approvals/owned",
    response={200: schemas.OwnerQueuePage, **ERRORS},
    url_name="owner_queue",
    tags=["requests"],
)
def owner_queue(request, page: int = 1):
    """The access and revoke requests about the caller's services that wait for their
    decision as owner, oldest submission first (anyone: owners decide these)."""
    rows, has_next = _page_of(selectors.owner_queue(request.user), page)
    items = [{**_request_summary(request, r), "account_id": r.account_id} for r in rows]
    return {"items": items, "page": page, "has_next": has_next}


@api.get(
    "/load-balancers",
    response={200: schemas.LoadBalancerList, **ERRORS},
    url_name="load_balancers",
    tags=["requests"],
)
def load_balancer_list(request, filters: Query[schemas.LoadBalancersIn]):
    """The account's load balancers of a type in a region, each with its zones and whether
    PrivateLink takes it: what a request's resources name (not for auditors)."""
    selectors.require_requester(request.user)
    _cloud_budget(request)
    picker = selectors.load_balancer_picker(filters.region_id, filters.service_resource_type)
    return {
        "region_id": filters.region_id,
        "service_resource_type": filters.service_resource_type,
        "load_balancers": picker.get("load_balancers", []),
        "total": picker.get("total", 0),
        "zone_required": not picker.get("one_zone", False),
        "note": picker.get("note", ""),
        "warning": picker.get("warning") or "",
    }


# --- services ----------------------------------------------------------------------------

services_router = Router(tags=["services"])


@services_router.get("", response={200: schemas.ServicePage, **ERRORS}, url_name="services")
def service_list(request, filters: Query[schemas.ServiceFilterIn]):
    """The catalog: every managed service (not deleted, unless `status` asks), newest first."""
    queryset = EndpointService.objects.filter(managed=True).select_related("owner")
    if not filters.status:
        queryset = queryset.exclude(status=ServiceStatus.DELETED)
    data = {**filters.dict(exclude={"page"}), "mine": filters.mine or ""}
    found = ServiceFilter(data, queryset=queryset, request=request)
    if not found.is_valid():
        raise Invalid(_form_errors(found.form))
    page = filters.page
    rows, has_next = _page_of(found.qs.order_by("-created_at", "-id"), page)
    return {
        "items": [_service_summary(request, s) for s in rows],
        "page": page,
        "has_next": has_next,
    }


# Before /{service_id}, as on the pages: "unmanaged" is not a service's id.
@services_router.get(
    "/unmanaged", response={200: schemas.ServicePage, **ERRORS}, url_name="unmanaged"
)
def service_unmanaged_list(request, page: int = 1):
    """The services found in the cloud that the portal did not make, by region and id
    (approvers, auditors); adopt one to manage it."""
    rows, has_next = _page_of(unmanaged_services(request.user).select_related("owner"), page)
    return {
        "items": [_service_summary(request, s) for s in rows],
        "page": page,
        "has_next": has_next,
    }


@services_router.get(
    "/{service_id}", response={200: schemas.ServiceOut, **ERRORS}, url_name="service"
)
def service_detail(request, service_id: str):
    """A service as last read from the cloud."""
    return _service_out(request, service_for_user(request.user, service_id))


def _service_out(request, service):
    return {
        **_service_summary(request, service),
        **{
            name: getattr(service, name)
            for name in (
                "payer",
                "auto_accept_enabled",
                "zone_affinity_enabled",
                "connect_bandwidth",
                "address_ip_version",
                "resource_group_id",
                "supported_region_list",
                "zones",
                "resources",
                "drifted",
                "drift",
                "read_at",
            )
        },
        "tags": [{"key": t["key"], "value": t["value"]} for t in service.tags],
    }


@services_router.get(
    "/{service_id}/allow-list",
    response={200: schemas.AllowListPage, **ERRORS},
    url_name="allow_list",
)
def service_allow_list(request, service_id: str, page: int = 1):
    """The accounts that may connect, as last read, each with who asked (keepers, auditors)."""
    service = service_consumers_for_user(request.user, service_id)
    accounts = sorted(service.allowed_users)
    rows, has_next = _page_of(accounts, page)
    asked = access_requests_by_account(service, rows)
    items = [
        {
            "account_id": account,
            "access_request": asked[account].pk if account in asked else None,
            "requested_by": asked[account].requester.get_username() if account in asked else None,
            "outside_portal": account not in asked,
        }
        for account in rows
    ]
    return {"items": items, "page": page, "has_next": has_next, "count": len(accounts)}


@services_router.get(
    "/{service_id}/connections",
    response={200: schemas.ConnectionPage, **ERRORS},
    url_name="connections",
)
def service_connections(request, service_id: str, page: int = 1):
    """The consumers' endpoints as last read, waiting ones first (keepers, auditors)."""
    service = service_consumers_for_user(request.user, service_id)
    rows, has_next = _page_of(connections_listed(service), page)
    items = [_connection_out(service, row) for row in rows]
    count = service.connections.filter(gone=False).count()
    return {"items": items, "page": page, "has_next": has_next, "count": count}


@services_router.get(
    "/{service_id}/requests",
    response={200: schemas.RequestPage, **ERRORS},
    url_name="service_requests",
)
def service_request_list(request, service_id: str, page: int = 1):
    """The requests about the service, its creation included, newest first (keepers,
    auditors)."""
    service = service_consumers_for_user(request.user, service_id)
    rows, has_next = _page_of(service_requests_listed(service), page)
    return {
        "items": [_request_summary(request, r) for r in rows],
        "page": page,
        "has_next": has_next,
    }


@services_router.get(
    "/{service_id}/events",
    response={200: schemas.ServiceEventPage, **ERRORS},
    url_name="service_events",
)
def service_event_list(request, service_id: str, page: int = 1):
    """The service's own history, newest first, as its page shows it: drift, adoption,
    connections, deletion (the requests about it keep theirs)."""
    service = service_for_user(request.user, service_id)
    rows, has_next = _page_of(service_events_listed(service), page)
    items = [
        {
            "seq": event.seq,
            "action": event.action,
            "actor": event.actor_label,
            "created_at": event.created_at,
            "differences": [str(line) for line in event.details.get("differences") or []],
        }
        for event in rows
    ]
    return {"items": items, "page": page, "has_next": has_next}


def _connection_out(service, row):
    return {
        "endpoint_id": row.endpoint_id,
        "endpoint_owner_id": row.endpoint_owner_id,
        "endpoint_vpc_id": row.endpoint_vpc_id,
        "status": row.status,
        "bandwidth": row.bandwidth,
        "zones": row.zones,
        "waiting": row.waiting,
        "in_flight": row.in_flight,
        "admitted": connections.admitted(service, row),
        "access_request": row.access_request_id,
        "rejected_at": row.rejected_at,
        "read_at": row.read_at,
    }


def _decide_connection(request, service_id, endpoint_id, *, accept):
    service = service_to_manage(request.user, service_id, to="decide connections")
    _cloud_budget(request)
    connection = connections.connection_decide(
        service=service, endpoint_id=endpoint_id, actor=request.user, accept=accept
    )
    return _connection_out(service, connection)


CONNECTION_HELP = (
    " The portal claims the connection, calls the cloud and returns the connection as it "
    "stands (`in_flight` until the cloud settles it; GET the connections to follow it). "
    "409 when the connection is not in a state this applies to, or the cloud refuses."
)


@services_router.post(
    "/{service_id}/connections/{endpoint_id}/accept",
    response={200: schemas.ConnectionOut, **ERRORS},
    auth=auth.write,
    url_name="connection_accept",
    description="Accept a waiting endpoint's connection, if its account is on the allow-list "
    "the portal approved (keepers)." + CONNECTION_HELP,
)
def connection_accept(request, service_id: str, endpoint_id: str):
    return _decide_connection(request, service_id, endpoint_id, accept=True)


@services_router.post(
    "/{service_id}/connections/{endpoint_id}/reject",
    response={200: schemas.ConnectionOut, **ERRORS},
    auth=auth.write,
    url_name="connection_reject",
    description="Reject a waiting endpoint, or disconnect a connected one (keepers)."
    + CONNECTION_HELP,
)
def connection_reject(request, service_id: str, endpoint_id: str):
    return _decide_connection(request, service_id, endpoint_id, accept=False)


@services_router.post(
    "/{service_id}/refresh",
    response={200: schemas.ServiceOut, **ERRORS, 502: schemas.Error},
    auth=auth.write,
    url_name="refresh",
)
def service_refresh(request, service_id: str):
    """Read the service and its connections from the cloud now, and say whether it drifted
    from what the portal approved (keepers); 502 if the cloud does not answer."""
    service = service_to_manage(request.user, service_id, to="refresh it")
    _cloud_budget(request)
    try:
        service = connections.endpoint_service_refresh_with_connections(
            pk=service.pk, actor=request.user
        )
    except cloud.CloudError as error:
        raise HttpError(502, f"Not refreshed: {error.message}") from error
    return _service_out(request, service_for_user(request.user, service_id))


@services_router.post(
    "/{service_id}/accept-drift",
    response={200: schemas.ServiceOut, **ERRORS},
    auth=auth.write,
    url_name="accept_drift",
)
def service_accept_drift(request, service_id: str):
    """Make the cloud's state the one the portal stands behind (keepers); 409 if the
    service has not drifted."""
    service = service_to_manage(request.user, service_id, to="accept drift")
    endpoint_services.endpoint_service_accept_drift(pk=service.pk, actor=request.user)
    return _service_out(request, service_for_user(request.user, service_id))


def _allowed(refusal):
    if refusal:
        raise PermissionDenied(refusal)


@services_router.post(
    "/{service_id}/change",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="change",
)
def service_change(request, service_id: str, payload: schemas.ChangeIn):
    """File a change: the desired state, from which the portal plans the cloud operations."""
    service = service_for_user(request.user, service_id)
    _allowed(policy.change_refusal(request.user, service))
    given = payload.dict(exclude_none=True)
    desired = {**service.config(), **given}
    resources = _rows(payload.resources) if payload.resources is not None else None
    tags = _rows(payload.tags) if payload.tags is not None else None
    editor = _valid_editor(
        desired,
        [*CHANGE_FIELDS, "justification"],
        resources if resources is not None else desired["resources"],
        tags if tags is not None else desired["tags"],
        service=service,
    )
    fields, resources, tags = editor.cleaned()
    service_request = services.change_request_create(
        requester=request.user, service=service, fields=fields, resources=resources, tags=tags
    )
    return _created(request, service_request)


def _file(request, form, create, error_field=None):
    if not form.is_valid():
        raise Invalid(_form_errors(form))
    try:
        service_request = create(form.cleaned_data)
    except services.NotAllowed:
        raise
    except services.DecisionRefused as error:
        if error_field:
            _refused_at(error_field, error)
        raise
    return _created(request, service_request)


@services_router.post(
    "/{service_id}/decommission",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="decommission",
)
def service_decommission(request, service_id: str, payload: schemas.JustificationIn):
    """File the service's deletion (two approvers decide)."""
    service = service_for_user(request.user, service_id)
    _allowed(policy.change_refusal(request.user, service))
    return _file(
        request,
        DecommissionForm(payload.dict()),
        lambda data: services.decommission_request_create(
            requester=request.user, service=service, justification=data["justification"]
        ),
    )


@services_router.post(
    "/{service_id}/access",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="access",
)
def service_access(request, service_id: str, payload: schemas.AccountIn):
    """Ask that a consumer's account may connect; the service's owner decides."""
    service = service_for_user(request.user, service_id)
    _allowed(policy.access_refusal(request.user, service))
    return _file(
        request,
        AccessForm(payload.dict()),
        lambda data: services.access_request_create(
            requester=request.user,
            service=service,
            account_id=data["account_id"],
            justification=data["justification"],
        ),
        error_field="account_id",
    )


@services_router.post(
    "/{service_id}/revoke",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="revoke",
)
def service_revoke(request, service_id: str, payload: schemas.AccountIn):
    """Ask that an account be taken off the allow-list (owner or approver)."""
    service = service_for_user(request.user, service_id)
    _allowed(policy.revoke_refusal(request.user, service))
    return _file(
        request,
        RevokeForm(payload.dict()),
        lambda data: services.revoke_request_create(
            requester=request.user,
            service=service,
            account_id=data["account_id"],
            justification=data["justification"],
        ),
        error_field="account_id",
    )


@services_router.post(
    "/{service_id}/adopt",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="adopt",
)
def service_adopt(request, service_id: str, payload: schemas.AdoptionIn):
    """File the adoption of a service the portal did not make, naming its owner (approvers)."""
    service = service_for_user(request.user, service_id)
    _allowed(policy.adoption_refusal(request.user, service))
    return _file(
        request,
        AdoptionForm({**payload.dict(), "team": _team_pk(payload.team) if payload.team else ""}),
        lambda data: services.adoption_request_create(
            requester=request.user,
            service=service,
            owner=data["owner"],
            team=data.get("team"),
            justification=data["justification"],
        ),
    )


@services_router.post(
    "/{service_id}/transfer",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="transfer",
)
def service_transfer(request, service_id: str, payload: schemas.TransferIn):
    """File the service's transfer to another team; that team's approvers accept it."""
    service = service_for_user(request.user, service_id)
    _allowed(policy.transfer_refusal(request.user, service))
    return _file(
        request,
        TransferForm(
            {"team": _team_pk(payload.team), "justification": payload.justification},
            service=service,
        ),
        lambda data: services.transfer_request_create(
            requester=request.user,
            service=service,
            team=data["team"],
            justification=data["justification"],
        ),
        error_field="team",
    )


# --- history (auditors) -------------------------------------------------------------------

audit_router = Router(tags=["audit"])

HISTORY_HELP = (
    " Filters as on /audit/ (repeat `state` and `kind` for several); an invalid one is 422 at "
    "its field, never every request."
)


def _history(request, filters):
    data = QueryDict(mutable=True)
    for name, value in filters.dict(exclude={"page"}).items():
        data.setlist(name, value if isinstance(value, list) else [value])
    history = audit_selectors.request_history(request.user, data)
    if not history.is_valid():
        raise Invalid(
            _form_errors(history.form), detail="The filters have errors, each at its field."
        )
    return history


@audit_router.get(
    "/requests",
    response={200: schemas.HistoryPage, **ERRORS},
    url_name="history",
    description="Every request, filtered, 50 a page: `page` counts from 1 and `has_next` "
    "says whether another follows (no total: at a million rows counting costs more than the "
    "page). Each with the decisions on it." + HISTORY_HELP,
)
def history(request, filters: Query[schemas.HistoryFilterIn]):
    found = _history(request, filters)
    rows, has_next = _page_of(
        audit_selectors.history_ordered(found).select_related("requester"), filters.page
    )
    audit_selectors.decisions_of(rows)
    items = [
        {
            **_request_summary(request, row),
            "decided_at": row.decided_at,
            "decisions": [
                {
                    "approver": d.approver.get_username(),
                    "decision": d.decision,
                    "revision": d.revision,
                    "created_at": d.created_at,
                }
                for d in row.decisions
            ],
        }
        for row in rows
    ]
    return {"items": items, "page": filters.page, "has_next": has_next}


def _export_doc(media_type, what):
    return {
        "responses": {
            "200": {
                "description": what,
                "content": {media_type: {"schema": {"type": "string"}}},
            }
        }
    }


@audit_router.get(
    "/export.csv",
    response=ERRORS,
    url_name="export_csv",
    openapi_extra=_export_doc("text/csv", "The filtered requests, one a row, streamed."),
    description="The filtered requests as CSV, in id order, streamed; the columns are the "
    "history page's export's." + HISTORY_HELP,
)
def history_csv(request, filters: Query[schemas.HistoryFilterIn]):
    return exports.csv_response(_history(request, filters).qs)


@audit_router.get(
    "/export.jsonl",
    response=ERRORS,
    url_name="export_jsonl",
    openapi_extra=_export_doc(
        "application/x-ndjson", "The filtered requests, one JSON object a line, streamed."
    ),
    description="The filtered requests as JSON Lines, in id order, streamed." + HISTORY_HELP,
)
def history_jsonl(request, filters: Query[schemas.HistoryFilterIn]):
    return exports.jsonl_response(_history(request, filters).qs)


api.add_router("/requests", requests_router)
api.add_router("/services", services_router)
api.add_router("/delegations", delegations_router)
api.add_router("/audit", audit_router)
