from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "portal.approvals"
    label = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        from portal.approvals import queue
        from portal.approvals.models import Delegation
        from portal.audit import grants
        from portal.lib import webhooks
        from portal.service_requests.models import ServiceRequest
        from portal.service_requests.signals import pending_changed

        pending_changed.connect(queue.moved, sender=ServiceRequest, dispatch_uid="approval-queue")

        # Who decides for whom, and when: sealed however written.
        grants.track(
            Delegation,
            name="delegation",
            record=lambda row: {
                "delegator": row.delegator_id,
                "delegate": row.delegate_id,
                "starts_at": grants.stamp(row.starts_at),
                "ends_at": grants.stamp(row.ends_at),
                "revoked_at": grants.stamp(row.revoked_at),
            },
            holder=lambda row: row.delegate_id,
            label=lambda row: {
                "delegator": row.delegator.get_username(),
                "delegate": row.delegate.get_username(),
            },
            fields=("delegator", "delegate", "starts_at", "ends_at", "revoked_at"),
        )

        # A chat webhook that cannot work stops every process at start, not at the first post.
        webhooks.check_settings()
