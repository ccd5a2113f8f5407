"""The auditors' reads that pages and the API share, with their permission check."""

from collections import defaultdict

from django.core.exceptions import PermissionDenied

from portal.accounts import rights
from portal.approvals import policy
from portal.history.filters import RequestHistoryFilter
from portal.requests.selectors import request_for_user
from portal.service_requests.models import Approval


def require_auditor(user):
    if not rights.is_auditor(user):
        raise PermissionDenied("The history is for auditors.")


def request_for_auditor(user, pk):
    """Return any request, for an auditor (403 for anyone else, before any lookup)."""
    require_auditor(user)
    return request_for_user(user, pk)


def request_history(user, data):
    """Return the auditors' filter over every request, bound to `data` (403 for anyone else).

    Whoever uses it checks `is_valid()` first: an invalid filter never widens to every row.
    """
    require_auditor(user)
    return RequestHistoryFilter(data, queryset=policy.visible_requests(user))


def history_ordered(history):
    """The valid filter's requests in the order asked for, newest first by default."""
    queryset = history.qs
    if not queryset.query.order_by:
        queryset = queryset.order_by("-created_at", "-id")
    return queryset


def decisions_of(rows):
    """Set `decisions` on each request of `rows`: its approvals, with their approvers, in
    one query."""
    deciders = defaultdict(list)
    for approval in Approval.objects.filter(request__in=[r.pk for r in rows]).select_related(
        "approver"
    ):
        deciders[approval.request_id].append(approval)
    for row in rows:
        row.decisions = deciders[row.pk]
