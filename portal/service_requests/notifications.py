"""Email to the people a request concerns, through Django's mail (console by default)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from portal.service_requests import policy


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
        f"{service_request.requester.get_username()} asks for an endpoint service in "
        f"{service_request.region_id}: {service_request.service_description or '(no description)'}"
        f"\nIt {requirement}.\n\n{settings.SITE_URL}{service_request.get_absolute_url()}\n",
        None,
        recipients,
    )


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
