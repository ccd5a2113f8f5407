"""The approvers' pages: the queue (and its count in the navigation), and delegations."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.accounts import rights
from portal.approvals import policy, queue, selectors, services
from portal.approvals.forms import DelegationForm
from portal.approvals.models import Delegation
from portal.http import HttpRequest
from portal.lib.paging import page_number


@login_required
@require_GET
def approval_queue(request: HttpRequest):
    at = queue.version()
    if request.htmx and request.GET.get("v") == at and policy.sees_queue(request.user):
        return HttpResponse(status=204)  # the poll of an unchanged queue: no database
    found = selectors.approval_queue(
        request.user, page_number(request), page_number(request, "others"), at=at
    )
    template = "service_requests/approval_list.html"
    if request.htmx:
        template += "#queue"
    context = {
        "queue": found.mine,
        "others": found.others,
        "delegated": found.delegated,
        "more_delegated": found.more_delegated,
        "lent": found.lent,
        "queue_version": at,
    }
    return render(request, template, context)


@login_required
@require_GET
def pending_count(request: HttpRequest):
    if not rights.is_approver(request.user):
        raise PermissionDenied("Only approvers have a queue.")
    if request.GET.get("v") == queue.version():
        return HttpResponse(status=204)
    return render(request, "service_requests/approval_list.html#pending_count")


@login_required
@require_http_methods(["GET", "POST"])
def delegation_list(request: HttpRequest):
    """The delegations one gave and holds (admins: everyone's current ones); POST lends
    one's deciding to someone, then shows the list again (post, redirect, get)."""
    if rights.is_read_only(request.user):
        raise PermissionDenied("Auditors read; they neither decide nor delegate.")
    may_delegate = policy.may_delegate(request.user)
    form = DelegationForm(request.POST or None, delegator=request.user)
    if request.method == "POST":
        if not may_delegate:
            raise PermissionDenied("Only those who decide requests can delegate their deciding.")
        if form.is_valid():
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
                form.add_error(error.field, str(error))
            else:
                messages.success(
                    request,
                    f"{delegation.delegate.get_username()} decides for you from "
                    f"{delegation.starts_at:%Y-%m-%d %H:%M} until "
                    f"{delegation.ends_at:%Y-%m-%d %H:%M} UTC.",
                )
                return redirect("service_requests:delegations")
    context = {"form": form, "may_delegate": may_delegate, **_delegations_of(request.user)}
    status = 400 if form.is_bound else 200
    return render(request, "service_requests/delegation_list.html", context, status=status)


def _delegations_of(user, shown=100):
    """The delegations `user` gave and holds, newest first; admins, everyone's current ones."""
    delegations = Delegation.objects.select_related("delegator", "delegate", "revoked_by")
    everyone = delegations.current().exclude(delegator=user) if user.is_superuser else None
    return {
        "given": list(delegations.filter(delegator=user)[:shown]),
        "received": list(delegations.filter(delegate=user)[:shown]),
        "everyone": list(everyone[:shown]) if everyone is not None else [],
    }


@login_required
@require_POST
def delegation_revoke(request: HttpRequest, pk):
    delegation = selectors.delegation_for_user(request.user, pk)
    delegation = services.delegation_revoke(delegation=delegation, actor=request.user)
    messages.success(
        request,
        f"The delegation from {delegation.delegator.get_username()} to "
        f"{delegation.delegate.get_username()} is revoked.",
    )
    return redirect("service_requests:delegations")
