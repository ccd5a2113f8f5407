"""Small helpers the tests share."""

from portal.service_requests.models import ServiceRequest


def decide(client, request, action, revision=None, **data):
    """Post an approver's decision as the page would: with the revision it shows."""
    if revision is None:
        revision = ServiceRequest.objects.values_list("revision", flat=True).get(pk=request.pk)
    path = {"approve": "approve", "reject": "reject", "send_back": "send-back"}[action]
    return client.post(f"/requests/{request.pk}/{path}/", {"revision": revision, **data})
