"""What the requests' record announces to the layers above it, which it does not import.

`work_ready` is sent, in the transaction that approved a request (or sent a failed one back),
when the request is ready for the worker: the provisioning app hands it to the worker on commit
(portal.provisioning.apps). A signal rather than a call, so that requests need not know how
work is done, and provisioning may know requests.

`pending_changed` is sent once the transaction commits in which a request entered pending
approval, left it, or was decided on: the approvers' queue (portal.approvals.apps) is no
longer what its caches hold.
"""

from django.dispatch import Signal

work_ready = Signal()  # sent with service_request=
pending_changed = Signal()  # sent with service_request=
