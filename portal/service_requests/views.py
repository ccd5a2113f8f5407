from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from portal.cloud import services as cloud
from portal.http import HttpRequest
from portal.service_requests import policy, services
from portal.service_requests.forms import DecisionForm, RequestEditor, SendBackForm
from portal.service_requests.models import Decision, ServiceRequest, State, TransitionNotAllowed

STRUCTURE_ACTIONS = ("add-resource", "add-tag", "refresh")
POLLING_STATES = {State.PENDING_APPROVAL, State.APPROVED, State.PROVISIONING, State.CREATING}


def _get_request_for_user(user, pk):
    """Return the request if `user` may see it; 404 otherwise, so ids leak nothing."""
    service_request = get_object_or_404(ServiceRequest, pk=pk)
    if not policy.can_view(user, service_request):
        raise Http404("No such request.")
    return service_request


def _own_request(user, pk):
    service_request = _get_request_for_user(user, pk)
    if service_request.requester_id != user.pk:
        raise PermissionDenied("Only the requester can do this.")
    return service_request


def pending_queue(user, limit=None):
    """Return the requests awaiting `user`'s decision, each with its policy requirement."""
    queue = (
        ServiceRequest.objects.filter(state=State.PENDING_APPROVAL)
        .exclude(requester=user)
        .select_related("requester")
        .annotate(
            approvals_so_far=Count(
                "approvals",
                filter=Q(approvals__decision=Decision.APPROVE)
                & Q(approvals__revision=F("revision")),
            )
        )
        .order_by("submitted_at", "id")
    )
    queue = list(queue[:limit])
    for item in queue:
        item.requirement = policy.required_approvals(item)
    return queue


@login_required
@require_GET
def home(request: HttpRequest):
    if policy.is_read_only(request.user):
        return redirect("audit:history")
    mine = Paginator(
        ServiceRequest.objects.filter(requester=request.user).order_by("-created_at", "-id"), 25
    ).get_page(request.GET.get("page"))
    queue = pending_queue(request.user, limit=50) if policy.is_approver(request.user) else None
    return render(request, "service_requests/request_list.html", {"page": mine, "queue": queue})


@login_required
@require_GET
def approval_queue(request: HttpRequest):
    if not policy.is_approver(request.user):
        raise PermissionDenied("Only approvers see the queue.")
    queue = pending_queue(request.user)
    template = "service_requests/approval_list.html"
    if request.htmx:
        template += "#queue"
    return render(request, template, {"queue": queue})


def _render_form(request, editor, *, dry_run=None, status=200):
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
    context = {
        "editor": editor,
        "service_request": editor.instance if editor.instance.pk else None,
        "dry_run": dry_run,
        "cloud_errors": editor.cloud_errors(dry_run),
    }
    return render(request, template, context, status=status)


def _handle_form(request, instance):
    action = request.POST.get("action", "draft")
    editor = RequestEditor(request.POST, instance=instance, for_submit=action == "submit")
    if action in STRUCTURE_ACTIONS or action.startswith("remove-"):
        return _render_form(request, editor.restructure(action))
    if not editor.is_valid():
        return _render_form(request, editor)
    fields, resources, tags = editor.cleaned()
    if action == "validate":
        result = cloud.endpoint_service_dry_run(fields=fields, resources=resources, tags=tags)
        return _render_form(request, editor, dry_run=result)
    fields = services.create_fields_from(fields)
    if instance is None:
        instance = services.service_request_create(
            requester=request.user, fields=fields, resources=resources, tags=tags
        )
    else:
        instance = services.service_request_update(
            pk=instance.pk, actor=request.user, fields=fields, resources=resources, tags=tags
        )
    if action != "submit":
        messages.success(request, "Draft saved.")
        return redirect(instance)
    result = services.service_request_submit(service_request=instance, actor=request.user)
    if instance.state != State.PENDING_APPROVAL:
        messages.error(request, f"Saved as a draft, not submitted: {result.message}")
        editor = RequestEditor(instance=instance)
        return _render_form(request, editor, dry_run=result)
    messages.success(request, "Submitted for approval.")
    return redirect(instance)


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest):
    if policy.is_read_only(request.user):
        raise PermissionDenied("Auditors do not make requests.")
    if request.method == "POST":
        return _handle_form(request, None)
    return _render_form(request, RequestEditor())


@login_required
@require_http_methods(["GET", "POST"])
def request_edit(request: HttpRequest, pk):
    service_request = _own_request(request.user, pk)
    if not service_request.is_editable:
        messages.error(request, "Only drafts and requests sent back for changes can be edited.")
        return redirect(service_request)
    if request.method == "POST":
        return _handle_form(request, service_request)
    return _render_form(request, RequestEditor(instance=service_request))


def _live_context(request, service_request, **extra):
    """Context of the polled part of the page: status, the user's actions, the decision box."""
    context = {
        "service_request": service_request,
        "polling": service_request.state in POLLING_STATES,
        "is_owner": service_request.requester_id == request.user.pk,
        # A callable, so the groups are read only where the template needs the answer.
        "is_approver": lambda: policy.is_approver(request.user),
        # Made only if a form in the fragment asks for it (a pending or failed request).
        "csrf_token": SimpleLazyObject(lambda: get_token(request)),
        **extra,
    }
    if service_request.state == State.PENDING_APPROVAL:
        approvals = [
            a
            for a in service_request.approvals.select_related("approver")
            if a.revision == service_request.revision
        ]
        context.update(
            approvals=approvals,
            requirement=policy.required_approvals(service_request),
            decision_refusal=policy.decision_refusal(request.user, service_request),
        )
        context.setdefault("send_back_form", SendBackForm())
    return context


def _detail_context(request, service_request, **extra):
    return {
        **_live_context(request, service_request, **extra),
        "resources": list(service_request.resources.all()),
        "tags": list(service_request.tags.all()),
        "events": list(service_request.events.select_related("actor")),
    }


@login_required
@require_GET
def request_detail(request: HttpRequest, pk):
    service_request = _get_request_for_user(request.user, pk)
    if request.htmx:
        return _status_response(request, service_request)
    context = _detail_context(request, service_request)
    return render(request, "service_requests/request_detail.html", context)


def _status_response(request, service_request):
    # Rendered without the request: the fragment needs no context processors, and skipping
    # them keeps a poll of a live request to the session, the user, the request and the
    # user's groups (4 queries), whatever the number of events.
    html = render_to_string(
        "service_requests/request_detail.html#live", _live_context(request, service_request)
    )
    if service_request.is_final:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@login_required
@require_GET
def request_status(request: HttpRequest, pk):
    return _status_response(request, _get_request_for_user(request.user, pk))


@login_required
@require_POST
def request_submit(request: HttpRequest, pk):
    service_request = _own_request(request.user, pk)
    if not service_request.can("submit"):
        messages.error(request, "This request cannot be submitted now.")
        return redirect(service_request)
    if not service_request.justification.strip() or not service_request.resources.exists():
        messages.error(request, "Add a justification and at least one resource, then submit.")
        return redirect("service_requests:edit", pk=pk)
    result = services.service_request_submit(service_request=service_request, actor=request.user)
    if service_request.state == State.PENDING_APPROVAL:
        messages.success(request, "Submitted for approval.")
        return redirect(service_request)
    messages.error(request, f"Not submitted: {result.message}")
    return redirect("service_requests:edit", pk=pk)


@login_required
@require_POST
def request_cancel(request: HttpRequest, pk):
    service_request = _own_request(request.user, pk)
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
    service_request = _get_request_for_user(request.user, pk)
    if service_request.requester_id != request.user.pk and not policy.is_approver(request.user):
        raise PermissionDenied("Only the requester and approvers can validate a request.")
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
    source = _get_request_for_user(request.user, pk)
    clone = services.service_request_clone(source=source, actor=request.user)
    messages.success(request, f"New draft #{clone.pk}, a copy of #{source.pk}.")
    return redirect("service_requests:edit", pk=clone.pk)


def _decide(request, pk, decision, form_class):
    service_request = _get_request_for_user(request.user, pk)
    if not policy.is_approver(request.user) or service_request.requester_id == request.user.pk:
        raise PermissionDenied("You cannot decide this request.")
    form = form_class(request.POST)
    if not form.is_valid():
        context = _detail_context(request, service_request, send_back_form=form)
        return render(request, "service_requests/request_detail.html", context)
    try:
        services.service_request_decide(
            pk=pk, approver=request.user, decision=decision, comment=form.cleaned_data["comment"]
        )
    except services.DecisionRefused as error:
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
    service_request = _get_request_for_user(request.user, pk)
    if not policy.is_approver(request.user):
        raise PermissionDenied("Only approvers can retry a failed provisioning.")
    try:
        services.service_request_retry(pk=pk, actor=request.user)
    except TransitionNotAllowed as error:
        messages.error(request, f"Not retried: {error}.")
    else:
        messages.success(request, "Provisioning restarted with the same ClientToken.")
    return redirect(service_request)


@login_required
@require_GET
def pending_count(request: HttpRequest):
    if not policy.is_approver(request.user):
        raise PermissionDenied("Only approvers have a queue.")
    return render(request, "service_requests/approval_list.html#pending_count")
