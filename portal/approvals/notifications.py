"""What the portal tells people about requests: by email (Django's mail, console by default)
and, when a webhook is configured, in chat (portal/lib/webhooks.py).

Every notice says what happened, the comment or the cloud's reason, the service when there is
one, and an absolute link; it goes to the people who can act on it.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import mail_admins, send_mail
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from portal.accounts import rights
from portal.approvals import policy
from portal.approvals.models import Delegation
from portal.endpoint_services import keepers
from portal.lib import webhooks
from portal.lib.queue import enqueue_on_commit
from portal.service_requests.models import Decision, Kind, State

SUBJECT = "[PrivateLink portal]"
# What happened to a request, as its requester and the chat hear it.
HAPPENED = {
    State.APPROVED: "was approved",
    State.CHANGES_REQUESTED: "was sent back for changes",
    State.REJECTED: "was rejected",
    State.ACTIVE: "is now active",
    State.APPLIED: "was applied",
    State.FAILED: "failed",
    State.CANCELLED: "was cancelled",
}
# How a subject says each state a requester hears of.
STATE_PHRASES = {
    State.APPROVED: "approved",
    State.CHANGES_REQUESTED: "sent back for changes",
    State.REJECTED: "rejected",
    State.ACTIVE: "active",
    State.APPLIED: "applied",
    State.FAILED: "failed",
    State.CANCELLED: "cancelled",
}
# The states whose email also goes to the service's owner when someone else filed the request.
OWNER_HEARS = {State.APPLIED, State.REJECTED, State.FAILED}
# In a chat message, at most this many requests of a reminder are listed.
CHAT_LIST = 20


def _link(service_request):
    return f"{settings.SITE_URL}{service_request.get_absolute_url()}"


def _service(service_request):
    """Name the service a request is about: ServiceId (ServiceName; region, description)."""
    description = service_request.service_description or "(no description)"
    name = f"{service_request.service_name}; " if service_request.service_name else ""
    return f"{service_request.service_id} ({name}{service_request.region_id}, {description})"


def _what(service_request):
    """Say in a line or a few what a request asks for."""
    description = service_request.service_description or "(no description)"
    if service_request.kind == Kind.CREATE:
        return f"for an endpoint service in {service_request.region_id}: {description}"
    service = _service(service_request)
    if service_request.kind == Kind.CHANGE:
        lines = [f"  {line}" for op in service_request.operations.all() for line in op.summary]
        return f"to change {service}:\n" + "\n".join(lines)
    if service_request.kind == Kind.ADOPT:
        owner = service_request.target_owner.get_username()
        return f"to adopt {service}, owned by {owner}"
    if service_request.kind == Kind.TRANSFER:
        return f"to give {service} to the {service_request.target_team} team"
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


def _decided_by(service_request):
    """Who took the decision that put the request where it is, as "by x" (or "")."""
    if service_request.state == State.APPROVED:
        names = [a.approver.get_username() for a in service_request.current_approvals()]
    elif service_request.state in (State.REJECTED, State.CHANGES_REQUESTED):
        last = service_request.approvals.order_by("-created_at", "-id").first()
        names = [last.approver.get_username()] if last else []
    else:
        return ""
    return f" by {' and '.join(names)}" if names else ""


def _facts(service_request, comment=""):
    """The lines every notice of an event carries: the ask, the comment, the cloud's answer."""
    lines = [f"It asks {_what(service_request)}"]
    if comment:
        decided = service_request.approvals.order_by("-created_at", "-id").first()
        who = decided.approver.get_username() if decided else "the approver"
        lines.append(f"Comment from {who}: {comment}")
    if service_request.error_message:
        code = f" ({service_request.error_code})" if service_request.error_code else ""
        lines.append(f"What the cloud said: {service_request.error_message}{code}")
    if service_request.service_name and service_request.state in (State.ACTIVE, State.APPLIED):
        lines.append(f"ServiceName: {service_request.service_name}")
    return lines


def _resubmission(service_request):
    """Say what the approvers asked before, when a request comes back after a send-back."""
    sent_back = (
        service_request.approvals.filter(decision=Decision.SEND_BACK)
        .select_related("approver")
        .order_by("-created_at", "-id")
        .first()
    )
    if sent_back is None:
        return None
    asked = f": {sent_back.comment}" if sent_back.comment else ""
    return (
        f"Resubmitted (revision {service_request.revision}) after "
        f"{sent_back.approver.get_username()} sent it back{asked}"
    )


def _emails(users):
    return sorted({user.email for user in users if user.email})


def notify_approvers(service_request):
    """Tell everyone who may decide a submitted request: approvers and, for who may connect
    to a service, its owner; and those who decide for one of them now (delegates)."""
    recipients = _emails(policy.with_delegates(policy.waiting_on(service_request), service_request))
    if not recipients:
        return
    lines = [
        f"{service_request.requester.get_username()} asks {_what(service_request)}",
        f"It {policy.required_approvals(service_request)}.",
    ]
    resubmitted = _resubmission(service_request)
    if resubmitted:
        lines.append(resubmitted)
    send_mail(
        f"{SUBJECT} Request #{service_request.pk} awaits approval",
        "\n".join(lines) + f"\n\n{_link(service_request)}\n",
        None,
        recipients,
    )


def notify_requester(service_request, comment=""):
    """Tell the requester where their request is, with what they need to act on it: the
    decision's comment, the error, the ServiceName, a link. A failure goes to the approvers
    too (they can retry it), and an outcome to the service's owner if someone else asked."""
    state = service_request.get_state_display().lower()
    happened = HAPPENED.get(service_request.state, f"is now {state}")
    happened += _decided_by(service_request)
    facts = _facts(service_request, comment)
    link = _link(service_request)
    phrase = STATE_PHRASES.get(service_request.state, state)
    subject = f"{SUBJECT} Request #{service_request.pk} {phrase}"
    email = service_request.requester.email
    if email:
        lines = [f"Your request #{service_request.pk} {happened}.", *facts, link]
        send_mail(subject, "\n\n".join(lines) + "\n", None, [email])
    if service_request.state == State.FAILED:
        _tell_approvers_of_failure(service_request, subject, facts, link)
    if service_request.state in OWNER_HEARS:
        _tell_owner(service_request, happened, facts, link)


def _tell_approvers_of_failure(service_request, subject, facts, link):
    User = get_user_model()
    recipients = _emails(
        User.objects.filter(groups__name=rights.APPROVERS_GROUP, is_active=True).distinct()
    )
    if recipients:
        body = [
            f"Request #{service_request.pk} by {service_request.requester.get_username()} failed.",
            *facts,
            "An approver can retry it (the same ClientTokens make a duplicate impossible):",
            link,
        ]
        send_mail(subject, "\n\n".join(body) + "\n", None, recipients)


def _tell_owner(service_request, happened, facts, link):
    """An owner hears what became of a request about their service that someone else filed:
    the owning team's members, or the person while no team owns it."""
    service = service_request.endpoint_service
    if service is None:
        return
    recipients = _emails(keepers.owners(service).exclude(pk=service_request.requester_id))
    if not recipients:
        return
    requester = service_request.requester.get_username()
    body = [
        f"Request #{service_request.pk} by {requester}, about your service "
        f"{service_request.service_id}, {happened}.",
        *facts,
        link,
    ]
    phrase = STATE_PHRASES.get(service_request.state, service_request.state)
    send_mail(
        f"{SUBJECT} Request #{service_request.pk} about {service_request.service_id} {phrase}",
        "\n\n".join(body) + "\n",
        None,
        recipients,
    )


def notify_admins_refused(service_request, reason):
    """Tell the site's admins that the worker refused a request the audit log does not explain."""
    mail_admins(
        f"Refused to act on request #{service_request.pk}",
        f"The worker did not provision or apply request #{service_request.pk}: {reason}.\n"
        f"Its state was set by something other than the portal's workflow.\n\n"
        f"{settings.SITE_URL}/audit/requests/{service_request.pk}/\n",
    )


# --- chat ---


def chat_message(service_request, comment=""):
    """Return (title, lines) saying in chat what just happened to a request."""
    pk, requester = service_request.pk, service_request.requester.get_username()
    if service_request.state == State.PENDING_APPROVAL:
        lines = [
            f"{requester} asks {_what(service_request)}",
            f"It {policy.required_approvals(service_request)}.",
        ]
        resubmitted = _resubmission(service_request)
        return f"Request #{pk} awaits approval", [*lines, *([resubmitted] if resubmitted else [])]
    happened = HAPPENED.get(
        service_request.state, f"is now {service_request.get_state_display().lower()}"
    )
    lines = [f"Filed by {requester}.", *_facts(service_request, comment)]
    if service_request.state == State.FAILED:
        lines.append("An approver can retry it: the same ClientTokens make a duplicate impossible.")
    return f"Request #{pk} {happened}{_decided_by(service_request)}", lines


def announce(service_request, comment=""):
    """Post what just happened to a request in each configured chat, once this commits."""
    from portal.approvals import tasks

    chats = webhooks.targets()
    if not chats:
        return
    title, lines = chat_message(service_request, comment)
    for target in chats:
        enqueue_on_commit(tasks.post_to_chat, target, title, lines, _link(service_request))


# --- reminders and escalation ---


def _since(then, now):
    # timesince() joins number and unit with a no-break space, which plain text does not need.
    return timesince(then, now).replace("\xa0", " ")


def _period(seconds):
    now = timezone.now()
    return _since(now - timedelta(seconds=seconds), now)


def _waiting_line(service_request, now, *, escalation):
    """One request of a reminder: who asked what, how long it waits, and on whom."""
    waited = _since(service_request.submitted_at, now)
    line = (
        f"#{service_request.pk} by {service_request.requester.get_username()}, waiting "
        f"{waited}: {_what(service_request)} (it {policy.required_approvals(service_request)})"
    )
    if escalation:
        people = [user.get_username() for user in policy.waiting_on(service_request)]
        line += f"; waits on {', '.join(people)}" if people else "; nobody else may approve it"
    return line


def _reminder_title(count, *, escalation):
    noun = "request has" if count == 1 else "requests have"
    if escalation:
        after = _period(settings.APPROVAL_ESCALATE_AFTER)
        return f"Escalation: {count} {noun} waited more than {after} for approval"
    return f"{count} {noun} waited more than {_period(settings.APPROVAL_REMIND_AFTER)} for approval"


def remind(user, service_requests, *, escalation, now=None):
    """Email one person the requests that wait on them (or, escalated, on others) too long."""
    if not user.email or not service_requests:
        return
    now = now or timezone.now()
    paragraphs = [
        f"{_waiting_line(r, now, escalation=escalation)}\n{_link(r)}" for r in service_requests
    ]
    intro = (
        "These requests wait for a decision; the people they wait on were reminded:"
        if escalation
        else "These requests wait for your decision:"
    )
    if rights.is_approver(user) or Delegation.objects.active(now).filter(delegate=user).exists():
        paragraphs.append(
            f"The approvals queue: {settings.SITE_URL}{reverse('service_requests:queue')}"
        )
    send_mail(
        f"{SUBJECT} {_reminder_title(len(service_requests), escalation=escalation)}",
        "\n\n".join([intro, *paragraphs]) + "\n",
        None,
        [user.email],
    )


def announce_reminders(service_requests, *, escalation, now):
    """Post one chat message listing the requests a pass reminded of (or escalated)."""
    from portal.approvals import tasks

    chats = webhooks.targets()
    if not chats or not service_requests:
        return
    lines = [_waiting_line(r, now, escalation=escalation) for r in service_requests[:CHAT_LIST]]
    if len(service_requests) > CHAT_LIST:
        lines.append(f"… and {len(service_requests) - CHAT_LIST} more in the queue.")
    title = _reminder_title(len(service_requests), escalation=escalation)
    queue = f"{settings.SITE_URL}{reverse('service_requests:queue')}"
    for target in chats:
        enqueue_on_commit(tasks.post_to_chat, target, title, lines, queue)
