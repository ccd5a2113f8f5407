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


def notify_requester(service_request, comment=""):
    email = service_request.requester.email
    if not email:
        return
    state = service_request.get_state_display().lower()
    body = f"Your request #{service_request.pk} is now {state}."
    if comment:
        body += f"\n\nComment: {comment}"
    if service_request.error_message:
        body += f"\n\n{service_request.error_message}"
    send_mail(
        f"[PrivateLink portal] Request #{service_request.pk} is {state}",
        f"{body}\n\n{settings.SITE_URL}{service_request.get_absolute_url()}\n",
        None,
        [email],
    )


def notify_admins_refused(service_request, reason):
    """Tell the site's admins that the worker refused a request the audit log does not explain."""
    mail_admins(
        f"Refused to act on request #{service_request.pk}",
        f"The worker did not provision or apply request #{service_request.pk}: {reason}.\n"
        f"Its state was set by something other than the portal's workflow.\n\n"
        f"{settings.SITE_URL}/audit/requests/{service_request.pk}/\n",
    )
