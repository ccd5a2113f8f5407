from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "portal.approvals"
    label = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        from portal.approvals import queue
        from portal.lib import webhooks
        from portal.service_requests.models import ServiceRequest
        from portal.service_requests.signals import pending_changed

        pending_changed.connect(queue.moved, sender=ServiceRequest, dispatch_uid="approval-queue")

        # A chat webhook that cannot work stops every process at start, not at the first post.
        webhooks.check_settings()
