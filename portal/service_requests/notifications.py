"""Email to the people a request concerns, through Django's mail (console by default)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import mail_admins, send_mail

from portal.service_requests import policy
from portal.service_requests.models import ACCOUNT_KINDS, Kind


def notify_approvers(service_request):
    """Tell everyone who may decide a submitted request: approvers and, for who may connect
    to a service, its owner."""
    User = get_user_model()
    deciders = User.objects.filter(groups__name=policy.APPROVERS_GROUP, is_active=True)
    service = service_request.endpoint_service
    if service_request.kind in ACCOUNT_KINDS and service and service.owner_id:
        deciders = deciders | User.objects.filter(pk=service.owner_id, is_active=True)
    recipients = sorted(
        set(
            deciders.exclude(pk=service_request.requester_id)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        return
    requirement = policy.required_approvals(service_request)
    send_mail(
        f"[PrivateLink portal] Request #{service_request.pk} awaits approval",
        f"{service_request.requester.get_username()} asks {_what(service_request)}"
        f"\nIt {requirement}.\n\n{settings.SITE_URL}{service_request.get_absolute_url()}\n",
        None,
        recipients,
    )


def _what(service_request):
    """Say in a line or a few what a request asks for."""
    description = service_request.service_description or "(no description)"
    if service_request.kind == Kind.CREATE:
        return f"for an endpoint service in {service_request.region_id}: {description}"
    service = f"{service_request.service_id} ({service_request.region_id}, {description})"
    if service_request.kind == Kind.CHANGE:
        lines = [f"  {line}" for op in service_request.operations.all() for line in op.summary]
        return f"to change {service}:\n" + "\n".join(lines)
    if service_request.kind == Kind.ADOPT:
        owner = service_request.target_owner.get_username()
        return f"to adopt {service}, owned by {owner}"
    if service_request.kind == Kind.ACCESS:
        who = (
            "every Alibaba Cloud account"
            if service_request.account_id == "*"
            else f"account {service_request.account_id}"
        )
        return f"that {who} may connect to {service_request.service_name or service}"
    if service_request.kind == Kind.REVOKE:
        return f"that account {service_request.account_id} may no longer connect to {service}"
    return f"to {service_request.get_kind_display().lower()}: {service}"


# How a subject says each state a requester hears of.
STATE_PHRASES = {
    "approved": "approved",
    "changes_requested": "sent back for changes",
    "rejected": "rejected",
    "active": "active",
    "applied": "applied",
    "failed": "failed",
    "cancelled": "cancelled",
}


def notify_requester(service_request, comment=""):
    """Tell the requester where their request is, with what they need to act on it: the
    decision's comment, the error, the ServiceName, a link. A failure goes to the approvers
    too: they are the ones who can retry it."""
    state = service_request.get_state_display().lower()
    phrase = STATE_PHRASES.get(service_request.state, state)
    link = f"{settings.SITE_URL}{service_request.get_absolute_url()}"
    lines = [
        f"Your request #{service_request.pk} is now {state}.",
        f"It asks {_what(service_request)}",
    ]
    if comment:
        decided = service_request.approvals.order_by("-created_at", "-id").first()
        who = decided.approver.get_username() if decided else "the approver"
        lines.append(f"Comment from {who}: {comment}")
    if service_request.error_message:
        lines.append(f"What the cloud said: {service_request.error_message}")
        if service_request.error_code:
            lines.append(f"({service_request.error_code})")
    if service_request.service_name and service_request.state in ("active", "applied"):
        lines.append(f"ServiceName: {service_request.service_name}")
    subject = f"[PrivateLink portal] Request #{service_request.pk} {phrase}"
    email = service_request.requester.email
    if email:
        send_mail(subject, "\n\n".join([*lines, link]) + "\n", None, [email])
    if service_request.state == "failed":
        _tell_approvers_of_failure(service_request, subject, lines[1:], link)


def _tell_approvers_of_failure(service_request, subject, lines, link):
    User = get_user_model()
    recipients = sorted(
        set(
            User.objects.filter(groups__name=policy.APPROVERS_GROUP, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if recipients:
        body = [
            f"Request #{service_request.pk} by {service_request.requester.get_username()} failed.",
            *lines,
            "An approver can retry it (the same ClientTokens make a duplicate impossible):",
            link,
        ]
        send_mail(subject, "\n\n".join(body) + "\n", None, recipients)


def notify_admins_refused(service_request, reason):
    """Tell the site's admins that the worker refused a request the audit log does not explain."""
    mail_admins(
        f"Refused to act on request #{service_request.pk}",
        f"The worker did not provision or apply request #{service_request.pk}: {reason}.\n"
        f"Its state was set by something other than the portal's workflow.\n\n"
        f"{settings.SITE_URL}/audit/requests/{service_request.pk}/\n",
    )
