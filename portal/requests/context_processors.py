from django.utils.functional import SimpleLazyObject

from portal.accounts import rights
from portal.approvals import policy, queue
from portal.approvals.models import Delegation
from portal.service_requests.models import UNEXPLAINED_CODE, ServiceRequest, State


def navigation(request):
    """Give the layout the user's roles and, for approvers, the pending count."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    approver = rights.is_approver(user)
    auditor = rights.is_auditor(user)
    deciding = policy.sees_queue(user)
    context = {
        "is_approver": approver,
        "sees_queue": deciding,
        "is_auditor": auditor,
        "read_only": rights.is_read_only(user),
    }
    if user.is_superuser or auditor:
        context["chain"], context["integrity_alerts"] = _integrity()
    if not deciding and not context["read_only"]:
        # A delegate reaches the queue too; asked only by pages that show the navigation.
        context["decides_for_someone"] = SimpleLazyObject(
            lambda: Delegation.objects.active().filter(delegate=user).exists()
        )
    if deciding:
        at = queue.version()
        context["queue_version"] = at
        context["pending_count"] = queue.pending_count(user, at)
    return context


def _integrity():
    """The newest check of the audit log (the history page shows it too), and what an admin or
    auditor must look at: a broken audit log, requests the worker refused."""
    from portal.audit.models import ChainCheck

    alerts = []
    check = ChainCheck.objects.first()
    if check is None:
        _first_check()
    elif not check.ok:
        alerts.append(check.message)
    refused = ServiceRequest.objects.filter(state=State.FAILED, error_code=UNEXPLAINED_CODE).count()
    if refused:
        alerts.append(
            f"{refused} request(s) refused by the worker: the audit log does not explain them"
        )
    return check, alerts


def _first_check():
    """A fresh install has no verification yet: start one now (once; a worker runs it) rather
    than leave the auditor a command to run, or an hour to wait for beat."""
    from django.core.cache import cache

    from portal.audit.tasks import verify_audit_chain
    from portal.lib.queue import enqueue_on_commit

    if cache.add("audit:first-check-started", 1, timeout=600):
        enqueue_on_commit(verify_audit_chain)
