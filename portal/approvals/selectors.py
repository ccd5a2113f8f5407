"""The approvers' lookups, shared by pages and the API: the queue as one person sees it, a
delegation they gave or hold, and what waits for them as a service's owner."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal.approvals import policy, queue
from portal.approvals.models import Delegation
from portal.endpoint_services import keepers
from portal.endpoint_services.models import EndpointService
from portal.lib.lookups import one_or_404
from portal.service_requests.models import ACCOUNT_KINDS


def approval_queue(user, number, others_number=1, **kwargs):
    """Page `number` of what waits for `user`'s decision, and page `others_number` of what
    waits for others (approvers, the platform's and teams'; see queue.split); what they
    decide as someone's delegate (anyone who holds a delegation now), and whom they lent
    their own deciding to."""
    received, lent = queue.delegations_of(user)
    if policy.sees_queue(user):
        found = queue.split(user, number, others_number, **kwargs)
    elif received:
        found = queue.Split(mine=None, others=None, others_count=0)
    else:
        raise PermissionDenied("Only approvers, and those who decide for one, see the queue.")
    found.delegated, found.more_delegated = queue.delegated(user, received)
    found.lent = lent
    return found


def delegation_for_user(user, pk):
    """Return a delegation `user` gave or holds (admins: any); 404 otherwise."""
    delegation = one_or_404(
        Delegation.objects.select_related("delegator", "delegate"), "No such delegation.", pk=pk
    )
    if not user.is_superuser and user.pk not in (delegation.delegator_id, delegation.delegate_id):
        raise Http404("No such delegation.")
    return delegation


def owner_queue(user):
    """Who may connect to `user`'s services (those they own: keepers.owned_by), waiting for
    their decision as an owner, oldest submission first (routed to them: policy.route)."""
    return (
        queue.waiting_for(user)
        .filter(
            kind__in=ACCOUNT_KINDS,
            endpoint_service__in=EndpointService.objects.filter(keepers.owned_by(user)),
        )
        .select_related("requester")
        .order_by("submitted_at", "id")
    )
