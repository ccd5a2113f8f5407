import uuid

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from portal.accounts import rights
from portal.approvals import policy, queue
from portal.approvals import services as approval_services
from portal.approvals.forms import DecisionForm, SendBackForm
from portal.approvals.selectors import owner_queue
from portal.audit.actions import Action
from portal.cloud import services as cloud
from portal.endpoint_services import plans
from portal.endpoint_services.selectors import service_for_user
from portal.http import HttpRequest
from portal.lib.limits import cloud_budget_refusal
from portal.requests import selectors, services
from portal.requests.forms import RequestEditor
from portal.requests.kinds import KINDS
from portal.service_requests import revisions
from portal.service_requests.exceptions import (
    AlreadyAsked,
    DecisionRefused,
    NotAllowed,
    StaleRevision,
)
from portal.service_requests.models import (
    Decision,
    Kind,
    ResourceType,
    RevisionSeen,
    ServiceRequest,
    State,
    TransitionNotAllowed,
)
from portal.service_requests.step_log import request_step_log

User = get_user_model()
# The first requests of the queue on an approver's dashboard; the rest on /approvals/.
DASHBOARD_QUEUE = 10
STRUCTURE_ACTIONS = ("add-resource", "add-tag", "refresh", "load-balancers", "pick-load-balancer")
# Form actions that call the cloud: a dry run, the zones of a region, the load balancers (the
# picker without JavaScript), a submission.
CLOUD_ACTIONS = ("validate", "refresh", "load-balancers", "submit")
# The views whose form holds the load balancer picker, where its choice is posted.
PICKER_FORMS = ("service_requests:new", "service_requests:edit", "endpoint_services:change")
# How often an open page asks whether its request moved: often while it can move by itself,
# less often when only a person (an approver's retry) can move it.
POLL_EVERY = {
    State.PENDING_APPROVAL: "2s",
    State.APPROVED: "2s",
    State.PROVISIONING: "2s",
    State.CREATING: "2s",
    State.APPLYING: "2s",
    State.FAILED: "5s",
    State.CHANGES_REQUESTED: "10s",
}


@login_required
@require_GET
def home(request: HttpRequest):
    if rights.is_read_only(request.user):
        return redirect("history:history")
    mine = Paginator(
        ServiceRequest.objects.filter(requester=request.user).order_by("-created_at", "-id"), 25
    ).get_page(request.GET.get("page"))
    context = {"page": mine, "queue": None}
    if policy.sees_queue(request.user):
        found = queue.split(request.user, per_page=DASHBOARD_QUEUE, others_per_page=0)
        context.update(queue=found.mine, others_count=found.others_count)
    else:
        # Who may connect to the services one owns: their owners decide (policy.route).
        context["owner_queue"] = list(owner_queue(request.user)[:DASHBOARD_QUEUE])
    return render(request, "service_requests/request_list.html", context)


def _preview_plan(editor):
    """The plan a change form's current content would make, to show as it is typed."""
    if not editor.is_change:
        return None
    if not editor.show_errors:
        # A form shown as it was (a first view, a row added): judge the same data afresh.
        editor = RequestEditor(
            editor.data,
            instance=editor.instance,
            service=editor.service,
            requester=editor.requester,
        )
    if not editor.is_valid():
        return None
    _fields, resources, tags = editor.cleaned()
    desired = {**_fields, "resources": resources, "tags": tags}
    return plans.change_plan(editor.service.config(), desired)


def sent_key(request):
    """The one-time key of the form render a POST came from (None without a valid one)."""
    try:
        return uuid.UUID(request.POST.get("submission_key", ""))
    except ValueError:
        return None


def render_key(request):
    """The key a form render carries: the one it was sent with while it is being built (a
    row added, a dry run), else a new one."""
    return sent_key(request) or uuid.uuid4()


def render_request_form(request, editor, *, dry_run=None, status=200):
    if not editor.is_change:
        # Changing the region refreshes the form, and with it the zones offered for each row.
        editor.form.fields["region_id"].widget.attrs.update(
            {
                "hx-post": request.path,
                "hx-trigger": "change",
                "hx-target": "#request-form",
                "hx-swap": "outerHTML",
                "hx-vals": '{"action": "refresh"}',
            }
        )
    template = "service_requests/request_form.html"
    if request.htmx:
        template += "#request_form"
    editor.blame_rows(dry_run)
    picker = None
    if editor.picker_open:
        picker = selectors.load_balancer_picker(
            editor.resources.region_id or "",
            editor.resources.service_resource_type or "",
            error=editor.picker_error,
            account=(
                editor.service.cloud_account
                if editor.is_change
                else selectors.picker_account(request.user, editor.data.get("cloud_account"))
            ),
        )
    context = {
        "editor": editor,
        "service_request": editor.instance if editor.instance.pk else None,
        "service": editor.service,
        "dry_run": dry_run,
        "cloud_errors": editor.cloud_errors(dry_run),
        "plan": _preview_plan(editor),
        "picker": picker,
        "form_url": request.path,
        "submission_key": render_key(request),
    }
    return render(request, template, context, status=status)


def _validate_unsaved(editor):
    """Dry-run what the form holds, without saving it."""
    fields, resources, tags = editor.cleaned()
    if not editor.is_change:
        account = fields.get("cloud_account")
        return cloud.endpoint_service_dry_run(
            fields=fields,
            resources=resources,
            tags=tags,
            reach=account.reach() if account is not None else cloud.HOME,
        )
    operations = plans.change_plan(
        editor.service.config(), {**fields, "resources": resources, "tags": tags}
    )
    return services.dry_run_operations(
        region_id=editor.service.region_id,
        service_id=editor.service.service_id,
        operations=[{"action": op.action, "params": op.params} for op in operations],
        reach=editor.service.reach(),
    )


def handle_request_form(request, instance, service=None):
    action = request.POST.get("action", "draft")
    if action in CLOUD_ACTIONS and (refused := cloud_budget_refusal(request, request.path)):
        return refused
    resent = None
    if instance is None and action in ("draft", "submit"):
        # The same render sent again while the draft it filed stands (Save draft, Back, an
        # edit, Submit): what was typed now goes to that draft, not to a second request.
        resent = services.request_sent_with(
            requester=request.user, submission_key=sent_key(request)
        )
        if resent is not None and resent.is_editable:
            instance, service = resent, None
        else:
            resent = None  # none, or no longer a draft: the create below leads to it
    editor = RequestEditor(
        request.POST,
        instance=instance,
        for_submit=action == "submit",
        service=service,
        requester=request.user,
    )
    if action in STRUCTURE_ACTIONS or action.startswith("remove-"):
        return render_request_form(request, editor.restructure(action))
    if not editor.is_valid():
        return render_request_form(request, editor)
    if action == "validate":
        return render_request_form(request, editor, dry_run=_validate_unsaved(editor))
    fields, resources, tags = editor.cleaned()
    try:
        if instance is None and editor.is_change:
            instance = services.change_request_create(
                requester=request.user,
                service=editor.service,
                fields=fields,
                resources=resources,
                tags=tags,
                submission_key=sent_key(request),
            )
        elif instance is None:
            instance = services.service_request_create(
                requester=request.user,
                fields=services.create_fields_from(fields),
                resources=resources,
                tags=tags,
                submission_key=sent_key(request),
            )
        else:
            opened = request.POST.get("revision", "")
            instance = services.service_request_update(
                pk=instance.pk,
                actor=request.user,
                fields=fields,
                resources=resources,
                tags=tags,
                expected_revision=int(opened) if opened.isdigit() else None,
            )
    except AlreadyAsked as error:
        messages.info(request, str(error))
        return redirect(error.service_request)
    except DecisionRefused as error:
        messages.error(request, str(error))
        return render_request_form(request, editor, status=409)
    if resent is not None:
        messages.info(
            request,
            f"This form was sent already: it filed request #{instance.pk}, which now holds what "
            "you typed.",
        )
    if action != "submit":
        messages.success(request, "Draft saved.")
        return redirect(instance)
    return submit_and_redirect(request, instance)


def submit_and_redirect(request, instance):
    """Submit a saved request; on a refusal, say why on the request's own page."""
    try:
        result = services.service_request_submit(service_request=instance, actor=request.user)
    except DecisionRefused as error:
        messages.error(request, f"Saved, not submitted: {error}")
        return redirect(instance)
    if instance.state != State.PENDING_APPROVAL:
        messages.error(request, f"Saved as a draft, not submitted: {result.message}")
        return redirect(instance)
    messages.success(request, "Submitted for approval.")
    shortfall = policy.policy_shortfall(instance)
    if shortfall:
        messages.warning(request, shortfall)
    return redirect(instance)


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest):
    if rights.is_read_only(request.user):
        raise PermissionDenied("Auditors do not make requests.")
    if request.method == "POST":
        return handle_request_form(request, None)
    return render_request_form(request, RequestEditor(requester=request.user))


@login_required
@require_http_methods(["GET", "POST"])
def request_edit(request: HttpRequest, pk):
    service_request = selectors.own_request(request.user, pk)
    if "edit" not in policy.available_actions(request.user, service_request):
        messages.error(
            request,
            "Only drafts and requests sent back for changes can be edited, and only the kinds "
            "with a form (create, change): cancel the others and file them again.",
        )
        return redirect(service_request)
    if request.method == "POST":
        return handle_request_form(request, service_request)
    return render_request_form(request, RequestEditor(instance=service_request))


@login_required
@require_GET
def load_balancer_list(request: HttpRequest):
    """The account's load balancers of a type in a region: the request form's picker (its
    fragment, on HX-Request), or a page to read ids and zones from without JavaScript."""
    selectors.require_requester(request.user)
    region_id = request.GET.get("region_id", "")
    resource_type = request.GET.get("service_resource_type", "")
    if (refused := cloud_budget_refusal(request, request.get_full_path())) is not None:
        return refused
    account = selectors.picker_account(request.user, request.GET.get("cloud_account"))
    context = {"picker": selectors.load_balancer_picker(region_id, resource_type, account=account)}
    if request.htmx:
        # The choice is posted with the form the fragment is shown in, to that form's view.
        form_url = _picker_form(request.htmx.current_url_abs_path or "")
        template = "service_requests/request_form.html#lb_picker"
        return render(request, template, {**context, "in_form": True, "form_url": form_url})
    context["regions"] = cloud.regions()[0]
    context["resource_types"] = ResourceType.choices
    return render(request, "service_requests/load_balancer_list.html", context)


def _picker_form(url):
    """The path of `url` if it is a form that holds the picker, else ""."""
    path = url.split("?")[0]
    try:
        return path if resolve(path).view_name in PICKER_FORMS else ""
    except Resolver404:
        return ""


def _retrying(service_request):
    """For a live request whose last cloud answer was one the worker retries by itself: that
    answer and how soon the next try is due, to say so in plain words; else None."""
    outcome = service_request.last_cloud_outcome
    if (
        not service_request.is_live
        or not outcome
        or not cloud.transient(outcome, service_request.last_cloud_action)
    ):
        return None
    due = service_request.next_step_at
    seconds = None
    if due is not None:
        seconds = max(0, round((due - timezone.now()).total_seconds()))
    return {"code": outcome, "in": seconds}


def _live_context(request, service_request, **extra):
    """Context of the parts of the page that follow the request live."""
    actions = policy.available_actions(request.user, service_request)
    operations = list(service_request.operations.all()) if not service_request.is_create else []
    # The cloud calls are in the step log, a page's worth at most; the history is what
    # people and the lifecycle did.
    events = list(service_request.events.exclude(action=Action.CLOUD_CALL).select_related("actor"))
    context = {
        "service_request": service_request,
        "retrying": _retrying(service_request),
        "poll_every": POLL_EVERY.get(service_request.state),
        "actions": actions,
        "is_owner": service_request.requester_id == request.user.pk,
        # Made only if a form in the fragment asks for it.
        "csrf_token": SimpleLazyObject(lambda: get_token(request)),
        # Who decides, and why (the routing rules, policy.route).
        "deciders": SimpleLazyObject(lambda: policy.routed(service_request)),
        "operations": operations,
        "events": events,
        "thread": revisions.thread(events),
        "step_log": request_step_log(service_request=service_request, operations=operations),
        **extra,
    }
    if service_request.state == State.PENDING_APPROVAL:
        digest = service_request.digest()
        revision = service_request.revision
        decisions = list(service_request.approvals.select_related("approver", "on_behalf_of"))
        current = [a for a in decisions if a.revision == revision and a.digest == digest]
        requirement = policy.required_approvals(service_request)
        eligible = policy.eligible_deciders(service_request)
        this_revision = [a for a in decisions if a.revision == revision]
        context.update(
            approvals=current,
            requirement=requirement,
            standing=revisions.standing(
                request.user,
                needed=requirement.needed,
                approved=len({a.principal_id for a in current}),
                decided={a.approver_id for a in this_revision}
                | {a.principal_id for a in this_revision},
                eligible=eligible,
                delegates=policy.delegates_of(eligible, service_request),
            ),
            shortfall=policy.policy_shortfall(service_request, eligible),
            decision_refusal=policy.decision_refusal(request.user, service_request),
            is_approver=rights.is_approver(request.user),
        )
        context.setdefault("send_back_form", SendBackForm())
        context["digest"] = digest
    return context


def _tracks_seen(user, service_request):
    """Whether what `user` has seen of the request is kept: they may decide it now."""
    return (
        service_request.state == State.PENDING_APPROVAL
        and service_request.requester_id != user.pk
        and policy.may_decide(user, service_request)
    )


def _detail_context(request, service_request, **extra):
    context = _live_context(request, service_request, **extra)
    context.update(
        resources=list(service_request.resources.all()),
        tags=list(service_request.tags.all()),
    )
    if service_request.state == State.PENDING_APPROVAL:
        seen = None
        if _tracks_seen(request.user, service_request):
            seen = RevisionSeen.objects.filter(request=service_request, user=request.user).first()
        events = context["events"]
        context.update(
            seen=seen,
            changes=revisions.changes(service_request, events, seen),
            resubmitted=revisions.resubmission(events),
        )
    return context


@login_required
@require_GET
def request_detail(request: HttpRequest, pk):
    service_request = selectors.request_for_user(request.user, pk)
    if request.htmx:
        return _status_response(request, service_request)
    context = _detail_context(request, service_request)
    if _tracks_seen(request.user, service_request):
        # After the changes were worked out from what they had seen before.
        RevisionSeen.note(service_request, request.user, context["seen"])
    return render(request, "service_requests/request_detail.html", context)


def _status_response(request, service_request):
    """Answer a poll: the status and every live part, out of band.

    The decision forms are sent only when the state or the revision moved, so that an approver
    typing a comment is never interrupted by a poll that brings an approval or a cloud call.
    """
    seen = (request.GET.get("s"), request.GET.get("r"))
    now = (service_request.state, str(service_request.revision))
    moved = seen != now
    # When the forms move, the content they are about moves with them, shown whole.
    make = _detail_context if moved else _live_context
    context = make(request, service_request, oob=True, forms_moved=moved)
    # Rendered without the request: the fragments need no context processors.
    html = render_to_string("service_requests/request_detail.html#live", context)
    if service_request.state not in POLL_EVERY:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


def _unchanged(pk, user, seen):
    """Whether the request is still at version `seen`, still polled, and `user` may see it.

    The poll an open page repeats every 2 s for as long as a request waits: one query, the
    right to see the request (policy.visible_to) inside it (selectors.request_version).
    """
    row = selectors.request_version(user, pk)
    return row is not None and str(row[0]) == seen and row[1] in POLL_EVERY


@login_required
@require_GET
def request_status(request: HttpRequest, pk):
    seen = request.GET.get("v")
    if seen and _unchanged(pk, request.user, seen):
        return HttpResponse(status=204)
    return _status_response(request, selectors.request_for_user(request.user, pk))


@login_required
@require_GET
def request_calls(request: HttpRequest, pk):
    """The cloud calls older than the request page shows, a page of steps at a time."""
    service_request = selectors.request_for_user(request.user, pk)
    before = request.GET.get("before", "")
    operations = list(service_request.operations.all())
    context = {
        "service_request": service_request,
        "step_log": request_step_log(
            service_request=service_request,
            operations=operations,
            before=int(before) if before.isdigit() else None,
        ),
        "open_all": True,
    }
    return render(request, "service_requests/request_calls.html", context)


@login_required
@require_POST
def request_submit(request: HttpRequest, pk):
    service_request = selectors.own_request(request.user, pk)
    if "submit" not in policy.available_actions(request.user, service_request):
        messages.error(request, "This request cannot be submitted now.")
        return redirect(service_request)
    if (refused := cloud_budget_refusal(request, service_request.get_absolute_url())) is not None:
        return refused
    return submit_and_redirect(request, service_request)


@login_required
@require_http_methods(["GET", "POST"])
def request_cancel(request: HttpRequest, pk):
    """GET asks to confirm (a page of its own: it works without JavaScript); POST cancels."""
    service_request = selectors.own_request(request.user, pk)
    if request.method == "GET":
        if not service_request.can("cancel"):
            messages.error(
                request,
                f"A request that is {service_request.get_state_display().lower()} cannot be "
                "cancelled.",
            )
            return redirect(service_request)
        context = {
            "service_request": service_request,
            "approvals": service_request.current_approvals().count(),
        }
        return render(request, "service_requests/cancel_confirm.html", context)
    try:
        services.service_request_cancel(pk=service_request.pk, actor=request.user)
    except TransitionNotAllowed as error:
        messages.error(request, f"Not cancelled: {error}.")
    else:
        messages.success(request, "Request cancelled.")
    return redirect(service_request)


@login_required
@require_POST
def request_validate(request: HttpRequest, pk):
    service_request = selectors.request_to_validate(request.user, pk)
    if (refused := cloud_budget_refusal(request, service_request.get_absolute_url())) is not None:
        return refused
    result = services.service_request_dry_run(service_request=service_request, actor=request.user)
    if request.htmx:
        return render(
            request,
            "service_requests/request_detail.html#dry_run",
            {"service_request": service_request, "dry_run": result},
        )
    (messages.success if result.ok else messages.error)(request, f"Dry run: {result.message}")
    return redirect(service_request)


@login_required
@require_POST
def request_clone(request: HttpRequest, pk):
    source = selectors.request_to_clone(request.user, pk)
    clone = services.service_request_clone(source=source, actor=request.user)
    messages.success(request, f"New draft #{clone.pk}, a copy of #{source.pk}.")
    return redirect("service_requests:edit", pk=clone.pk)


def _decide(request, pk, decision, form_class):
    service_request = selectors.request_to_decide(request.user, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        for field in ("revision", "digest"):
            for error in form.errors.get(field, []):
                messages.error(request, f"Not recorded: {error} Reload the page and decide again.")
        context = _detail_context(request, service_request, **{f"{decision}_form": form})
        return render(request, "service_requests/request_detail.html", context, status=400)
    try:
        approval_services.service_request_decide(
            pk=pk,
            approver=request.user,
            decision=decision,
            revision=form.cleaned_data["revision"],
            digest=form.cleaned_data["digest"],
            comment=form.cleaned_data["comment"],
        )
    except StaleRevision as error:
        messages.error(request, str(error))
        service_request.refresh_from_db()
        context = _detail_context(request, service_request)
        return render(request, "service_requests/request_detail.html", context, status=409)
    except DecisionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Decision recorded.")
    return redirect(service_request)


@login_required
@require_POST
def request_approve(request: HttpRequest, pk):
    return _decide(request, pk, Decision.APPROVE, DecisionForm)


@login_required
@require_POST
def request_reject(request: HttpRequest, pk):
    return _decide(request, pk, Decision.REJECT, DecisionForm)


@login_required
@require_POST
def request_send_back(request: HttpRequest, pk):
    return _decide(request, pk, Decision.SEND_BACK, SendBackForm)


@login_required
@require_POST
def request_retry(request: HttpRequest, pk):
    service_request = selectors.request_to_retry(request.user, pk)
    try:
        services.service_request_retry(pk=pk, actor=request.user)
    except TransitionNotAllowed as error:
        messages.error(request, f"Not retried: {error}.")
    else:
        messages.success(
            request, "Restarted with the same ClientTokens: nothing can be duplicated."
        )
    return redirect(service_request)


# --- requests about an existing service (/services/<service_id>/...) ----------------------


@login_required
@require_http_methods(["GET", "POST"])
def service_change(request: HttpRequest, service_id):
    service = service_for_user(request.user, service_id)
    refusal = KINDS[Kind.CHANGE].refusal(request.user, service)
    if refusal:
        raise PermissionDenied(refusal)
    if request.method == "POST":
        return handle_request_form(request, None, service=service)
    # "Restore" starts from what the portal approved, so that the plan undoes the drift.
    start = service.approved if request.GET.get("restore") and service.approved else None
    return render_request_form(request, RequestEditor(service=service, start=start))


@login_required
@require_http_methods(["GET", "POST"])
def service_request_form(request: HttpRequest, service_id, kind):
    """Show the form of a request of `kind` about the service (kinds.FORM_KINDS); file it
    when valid.

    `action=submit` submits it as well; either way the answer is the request's own page, and
    a request already asking the same (a double submit) answers with that request's page. A
    refusal is shown at the kind's `error_field` when it is about that field's value.
    """
    described = KINDS[kind]
    service = service_for_user(request.user, service_id)
    refusal = described.refusal(request.user, service)
    if refusal:
        raise PermissionDenied(refusal)
    initial = described.initial(request.GET) if described.initial else None
    form = described.form(request.POST or None, service=service, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                service_request = services.request_about_service_create(
                    kind=kind,
                    requester=request.user,
                    service=service,
                    submission_key=sent_key(request),
                    **form.cleaned_data,
                )
            except AlreadyAsked as error:
                messages.info(request, str(error))
                return redirect(error.service_request)
            except NotAllowed as error:
                # Refused since the page's own check (the service changed in between): as
                # the API answers it.
                raise PermissionDenied(str(error)) from error
            except DecisionRefused as error:
                if described.error_field:
                    form.add_error(described.error_field, str(error))
                else:
                    messages.error(request, str(error))
                status = 409
            else:
                if request.POST.get("action") == "submit":
                    return submit_and_redirect(request, service_request)
                messages.success(request, "Draft saved.")
                return redirect(service_request)
    extra = described.context(service) if described.context else {}
    context = {"form": form, "service": service, "submission_key": render_key(request), **extra}
    return render(request, described.template, context, status=status)
