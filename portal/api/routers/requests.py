"""Requests (tag `requests`): file, edit, validate, submit, cancel, clone, decide and retry
them; read their state, plan, approvals, audit events and cloud calls. /requests."""

from django.http import HttpResponse
from ninja import Router
from ninja.pagination import paginate

from portal.api import auth, schemas
from portal.api.errors import BODY_ERRORS, ERRORS, Invalid, cloud_budget
from portal.api.filing import (
    account_pk,
    created,
    editor_errors,
    fresh,
    rows,
    team_heard,
    team_pk,
    valid_editor,
)
from portal.api.paging import Paged
from portal.approvals import policy
from portal.approvals import services as approval_services
from portal.approvals.forms import DecisionForm, SendBackForm
from portal.history import selectors as audit_selectors
from portal.requests import selectors, services
from portal.requests.forms import CHANGE_FIELDS, EDITABLE_FIELDS, RequestEditor, posted_data
from portal.service_requests import exceptions
from portal.service_requests.integrity import request_events_verify
from portal.service_requests.models import Decision, ServiceRequest, State
from portal.service_requests.step_log import request_step_log

router = Router(tags=["requests"])


@router.get("", response={200: list[schemas.RequestSummary], **ERRORS}, url_name="requests")
@paginate(Paged)
def request_list(request):
    """The caller's own requests, newest first."""
    return (
        ServiceRequest.objects.filter(requester=request.user)
        .select_related("requester")
        .order_by("-created_at", "-id")
    )


@router.post(
    "", response={201: schemas.RequestOut, **BODY_ERRORS}, auth=auth.write, url_name="requests"
)
def request_create(request, response: HttpResponse, payload: schemas.CreateIn):
    """File a request for a new endpoint service, as a draft (submit it next)."""
    editor = valid_editor(
        payload.dict(),
        EDITABLE_FIELDS,
        rows(payload.resources),
        rows(payload.tags),
        requester=request.user,
    )
    fields, resources, tags = editor.cleaned()
    service_request = services.service_request_create(
        requester=request.user,
        fields=services.create_fields_from(fields),
        resources=resources,
        tags=tags,
    )
    return created(request, response, service_request)


@router.get("/{int:pk}", response={200: schemas.RequestOut, **ERRORS}, url_name="request")
def request_detail(request, pk: int):
    """A request's state, content, plan, approvals and what the caller may do to it."""
    return fresh(selectors.request_for_user(request.user, pk))


@router.put(
    "/{int:pk}",
    response={200: schemas.RequestOut, **BODY_ERRORS},
    auth=auth.write,
    url_name="request",
)
def request_edit(request, pk: int, payload: schemas.EditIn):
    """Edit one's draft, or a request sent back (create and change requests); the approvals
    of the earlier revision are discarded, as on the page."""
    service_request = selectors.own_request(request.user, pk)
    if "edit" not in policy.available_actions(request.user, service_request):
        raise exceptions.DecisionRefused(
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
            team_pk(given["team"]) if given.get("team") else service_request.target_team_id
        )
        names = [*names, "cloud_account"]
        values["cloud_account"] = (
            account_pk(given["cloud_account"])
            if given.get("cloud_account")
            else service_request.cloud_account_id
        )
    editor = RequestEditor(
        posted_data(names, values, given.get("resources", resources), given.get("tags", tags)),
        instance=service_request,
    )
    team_heard(editor, given.get("team"))
    if not editor.is_valid():
        raise Invalid(editor_errors(editor))
    fields, resources, tags = editor.cleaned()
    services.service_request_update(
        pk=service_request.pk,
        actor=request.user,
        fields=fields,
        resources=resources,
        tags=tags,
        expected_revision=payload.revision,
    )
    return fresh(service_request)


@router.post(
    "/{int:pk}/validate",
    response={200: schemas.DryRunOut, **ERRORS},
    auth=auth.write,
    url_name="validate",
)
def request_validate(request, pk: int):
    """Ask the cloud whether it would accept the request as saved (a dry run)."""
    service_request = selectors.request_to_validate(request.user, pk)
    cloud_budget(request)
    return services.service_request_dry_run(service_request=service_request, actor=request.user)


@router.post(
    "/{int:pk}/submit",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="submit",
)
def request_submit(request, pk: int):
    """Dry-run the request and put it in the approvers' queue; 422 if the cloud would refuse."""
    service_request = selectors.own_request(request.user, pk)
    cloud_budget(request)
    result = services.service_request_submit(service_request=service_request, actor=request.user)
    if service_request.state != State.PENDING_APPROVAL:
        raise Invalid(
            [(getattr(result, "field", "") or "__all__", result.message)],
            detail=f"Not submitted: {result.message}",
        )
    return fresh(service_request)


@router.post(
    "/{int:pk}/cancel",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="cancel",
)
def request_cancel(request, pk: int):
    """Cancel one's own request before it is approved."""
    service_request = selectors.own_request(request.user, pk)
    services.service_request_cancel(pk=service_request.pk, actor=request.user)
    return fresh(service_request)


@router.post(
    "/{int:pk}/clone",
    response={201: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="clone",
)
def request_clone(request, response: HttpResponse, pk: int):
    """Start a new draft of one's own from a create request's parameters and justification."""
    source = selectors.request_to_clone(request.user, pk)
    clone = services.service_request_clone(source=source, actor=request.user)
    return created(request, response, clone)


def _decider(decision, form_class):
    def decide(request, pk: int, payload: schemas.DecisionIn):
        service_request = selectors.request_to_decide(request.user, pk)
        form = form_class(payload.dict())
        if not form.is_valid():
            raise Invalid.of(form)
        approval_services.service_request_decide(
            pk=service_request.pk,
            approver=request.user,
            decision=decision,
            revision=form.cleaned_data["revision"],
            digest=form.cleaned_data["digest"],
            comment=form.cleaned_data["comment"],
        )
        return fresh(service_request)

    decide.__name__ = f"request_{decision}"  # its operation's id
    return decide


DECISION_HELP = (
    " Name the `revision` and `digest` you read (GET the request): a decision on content "
    "that changed since is refused with 409."
)
# (the decision, its address, the form that judges it, what it does)
DECISIONS = (
    (Decision.APPROVE, "approve", DecisionForm, "Approve the request."),
    (Decision.REJECT, "reject", DecisionForm, "Reject the request."),
    (
        Decision.SEND_BACK,
        "send-back",
        SendBackForm,
        "Send the request back to its requester; `comment` says what to change.",
    ),
)
for decision, address, form_class, what in DECISIONS:
    router.post(
        f"/{{int:pk}}/{address}",
        response={200: schemas.RequestOut, **BODY_ERRORS},
        auth=auth.write,
        url_name=decision.value,
        description=what + DECISION_HELP,
    )(_decider(decision, form_class))


@router.post(
    "/{int:pk}/retry",
    response={200: schemas.RequestOut, **ERRORS},
    auth=auth.write,
    url_name="retry",
)
def request_retry(request, pk: int):
    """Restart a failed request with the same ClientTokens (approvers)."""
    service_request = selectors.request_to_retry(request.user, pk)
    services.service_request_retry(pk=service_request.pk, actor=request.user)
    return fresh(service_request)


@router.get("/{int:pk}/events", response={200: list[schemas.EventOut], **ERRORS}, url_name="events")
@paginate(Paged, page_size=100)
def request_events(request, pk: int):
    """The request's audit events, oldest first, 100 a page (auditors)."""
    service_request = audit_selectors.request_for_auditor(request.user, pk)
    return service_request.events.select_related("actor").order_by("seq")


@router.get("/{int:pk}/calls", response={200: schemas.StepLogOut, **ERRORS}, url_name="calls")
def request_calls(request, pk: int, before: int | None = None):
    """The request's life step by step, with the cloud calls made in each (the newest 100
    events' worth; `before` an answer's `oldest_seq` for the earlier ones)."""
    service_request = selectors.request_for_user(request.user, pk)
    return request_step_log(
        service_request=service_request,
        operations=list(service_request.operations.all()),
        before=before,
    )


@router.get("/{int:pk}/chain", response={200: schemas.ChainOut, **ERRORS}, url_name="chain")
def request_chain(request, pk: int):
    """Whether the request's audit events are sealed and explain it as it is (auditors)."""
    return request_events_verify(audit_selectors.request_for_auditor(request.user, pk))
