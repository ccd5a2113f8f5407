"""Email to the people a request concerns, through Django's mail (console by default)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from portal.service_requests import policy
from portal.service_requests.models import Kind


def notify_approvers(service_request):
    User = get_user_model()
    recipients = list(
        User.objects.filter(groups__name=policy.APPROVERS_GROUP, is_active=True)
        .exclude(pk=service_request.requester_id)
        .exclude(email="")
        .values_list("email", flat=True)
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
