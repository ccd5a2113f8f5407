"""Who must approve a request, and who may decide it."""

from dataclasses import dataclass

from django.conf import settings

from portal.service_requests.models import Payer

APPROVERS_GROUP = "approvers"
AUDITORS_GROUP = "auditors"


@dataclass(frozen=True)
class Requirement:
    needed: int
    reasons: tuple

    def __str__(self):
        noun = "approval" if self.needed == 1 else "approvals"
        if self.reasons:
            return f"needs {self.needed} {noun}: {' and '.join(self.reasons)}"
        return f"needs {self.needed} {noun}"


def required_approvals(service_request):
    """Return how many distinct approvers a request needs, and why."""
    reasons = []
    if service_request.auto_accept_enabled:
        reasons.append("auto-accept is on")
    if service_request.payer == Payer.ENDPOINT_SERVICE:
        reasons.append("the service owner pays for consumers' traffic")
    if reasons:
        return Requirement(settings.APPROVALS_REQUIRED_RISKY, tuple(reasons))
    return Requirement(settings.APPROVALS_REQUIRED, ())


def in_group(user, name):
    # Groups are read once per request and cached on the user object.
    if not hasattr(user, "_portal_groups"):
        user._portal_groups = set(user.groups.values_list("name", flat=True))
    return name in user._portal_groups


def is_approver(user):
    return user.is_authenticated and (user.is_superuser or in_group(user, APPROVERS_GROUP))


def is_auditor(user):
    return user.is_authenticated and (user.is_superuser or in_group(user, AUDITORS_GROUP))


def is_read_only(user):
    """Auditors who hold no other role read everything and change nothing."""
    return is_auditor(user) and not user.is_superuser and not in_group(user, APPROVERS_GROUP)


def can_view(user, service_request):
    return service_request.requester_id == user.pk or is_approver(user) or is_auditor(user)


def decision_refusal(user, service_request):
    """Return why `user` may not decide `service_request` now, or None if they may."""
    if not is_approver(user):
        return "Only approvers can decide requests."
    if service_request.requester_id == user.pk:
        return "You cannot decide your own request."
    if not service_request.can("approve"):
        return (
            f"The request is {service_request.get_state_display().lower()}, not pending approval."
        )
    if service_request.current_approvals().filter(approver=user).exists():
        return "You have already approved this revision."
    return None
