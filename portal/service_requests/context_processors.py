from portal.service_requests import policy
from portal.service_requests.models import ServiceRequest, State


def navigation(request):
    """Give the layout the user's roles and, for approvers, the pending count."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    approver = policy.is_approver(user)
    auditor = policy.is_auditor(user)
    context = {
        "is_approver": approver,
        "is_auditor": auditor,
        "read_only": policy.is_read_only(user),
    }
    if approver:
        context["pending_count"] = (
            ServiceRequest.objects.filter(state=State.PENDING_APPROVAL)
            .exclude(requester=user)
            .count()
        )
    return context
