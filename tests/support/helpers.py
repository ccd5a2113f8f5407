"""Small helpers the tests share."""

from portal.service_requests.models import ServiceRequest


def decide(client, request, action, revision=None, digest=None, **data):
    """Post an approver's decision as the page would: with the revision and digest it shows."""
    current = ServiceRequest.objects.get(pk=request.pk)
    revision = current.revision if revision is None else revision
    digest = current.digest() if digest is None else digest
    path = {"approve": "approve", "reject": "reject", "send_back": "send-back"}[action]
    return client.post(
        f"/requests/{request.pk}/{path}/", {"revision": revision, "digest": digest, **data}
    )
