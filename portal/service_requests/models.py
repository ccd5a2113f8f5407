import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from portal.audit.models import GENESIS, AuditEvent, chain_hash, event_content


def new_client_token():
    """Make the ClientToken that makes every Create of this request idempotent (ASCII, 36)."""
    return f"plp-{uuid.uuid4().hex}"


class State(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    PROVISIONING = "provisioning", "Provisioning"
    CREATING = "creating", "Creating"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


EDITABLE_STATES = {State.DRAFT, State.CHANGES_REQUESTED}
LIVE_STATES = {State.APPROVED, State.PROVISIONING, State.CREATING}
FINAL_STATES = {State.ACTIVE, State.REJECTED, State.CANCELLED, State.FAILED}

# The lifecycle, in one place: action -> (states it may start from, state it leads to).
TRANSITIONS = {
    "submit": ({State.DRAFT, State.CHANGES_REQUESTED}, State.PENDING_APPROVAL),
    "approve": ({State.PENDING_APPROVAL}, State.APPROVED),
    "reject": ({State.PENDING_APPROVAL}, State.REJECTED),
    "send_back": ({State.PENDING_APPROVAL}, State.CHANGES_REQUESTED),
    "cancel": ({State.DRAFT, State.PENDING_APPROVAL, State.CHANGES_REQUESTED}, State.CANCELLED),
    "start_provisioning": ({State.APPROVED}, State.PROVISIONING),
    "mark_creating": ({State.PROVISIONING}, State.CREATING),
    "mark_active": ({State.PROVISIONING, State.CREATING}, State.ACTIVE),
    "fail": ({State.APPROVED, State.PROVISIONING, State.CREATING}, State.FAILED),
    "retry": ({State.FAILED}, State.APPROVED),
}


class TransitionNotAllowed(Exception):
    def __init__(self, action, state):
        super().__init__(f"cannot {action.replace('_', ' ')} a request that is {state}")
        self.action = action
        self.state = state


class Payer(models.TextChoices):
    ENDPOINT = "Endpoint", "Endpoint (consumers pay)"
    ENDPOINT_SERVICE = "EndpointService", "EndpointService (we pay for consumers' traffic)"


class ResourceType(models.TextChoices):
    SLB = "slb", "CLB (slb)"
    ALB = "alb", "ALB (alb)"
    NLB = "nlb", "NLB (nlb)"
    GWLB = "gwlb", "GWLB (gwlb)"


class AddressIpVersion(models.TextChoices):
    IPV4 = "IPv4", "IPv4"
    DUAL_STACK = "DualStack", "DualStack (IPv4 and IPv6)"


class ServiceRequest(models.Model):
    """A developer's request for one PrivateLink endpoint service, from draft to Active."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_requests"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    revision = models.PositiveIntegerField(
        default=1, help_text="Bumped by every edit and submission; approvals count per revision."
    )
    client_token = models.CharField(max_length=64, unique=True, default=new_client_token)

    # The parameters of CreateVpcEndpointService, in snake_case.
    region_id = models.CharField("region", max_length=64)
    service_description = models.CharField(max_length=256, blank=True)
    auto_accept_enabled = models.BooleanField(
        "auto-accept connections",
        default=False,
        help_text="Anyone who knows the service name can connect without review.",
    )
    payer = models.CharField(max_length=20, choices=Payer.choices, default=Payer.ENDPOINT)
    zone_affinity_enabled = models.BooleanField("zone affinity", default=False)
    service_resource_type = models.CharField(
        max_length=8, choices=ResourceType.choices, default=ResourceType.SLB
    )
    resource_group_id = models.CharField(
        "resource group",
        max_length=64,
        blank=True,
        validators=[
            RegexValidator(r"^rg-[A-Za-z0-9]+$", "A resource group id looks like rg-acfm…")
        ],
    )
    address_ip_version = models.CharField(
        "IP version",
        max_length=10,
        choices=AddressIpVersion.choices,
        default=AddressIpVersion.IPV4,
    )
    supported_region_list = models.JSONField(
        "supported regions",
        default=list,
        blank=True,
        help_text="Regions whose consumers may connect; empty means the service's own region.",
    )
    justification = models.TextField(
        blank=True, help_text="Why this service is needed, for the approvers."
    )

    # The last dry run: what the cloud would say to this revision.
    dry_run_ok = models.BooleanField(null=True)
    dry_run_code = models.CharField(max_length=100, blank=True)
    dry_run_message = models.TextField(blank=True)
    dry_run_at = models.DateTimeField(null=True, blank=True)

    # Filled by provisioning.
    service_id = models.CharField(max_length=64, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    service_domain = models.CharField(max_length=200, blank=True)
    cloud_status = models.CharField(max_length=20, blank=True)
    cloud_request_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    # The last answer of the cloud, kept on the row so the polled status costs no extra query.
    last_cloud_action = models.CharField(max_length=64, blank=True)
    last_cloud_outcome = models.CharField(max_length=100, blank=True)
    last_cloud_at = models.DateTimeField(null=True, blank=True)
    provisioning_started_at = models.DateTimeField(null=True, blank=True)

    # The head of this request's audit chain (see AuditEvent).
    audit_event_count = models.PositiveIntegerField(default=0, editable=False)
    audit_last_hash = models.CharField(max_length=64, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="request_requester_idx"),
            models.Index(fields=["state", "-created_at"], name="request_state_idx"),
            models.Index(fields=["state", "updated_at"], name="request_state_updated_idx"),
            models.Index(fields=["-created_at", "-id"], name="request_created_idx"),
            models.Index(fields=["region_id", "-created_at"], name="request_region_idx"),
            models.Index(fields=["decided_at"], name="request_decided_idx"),
            models.Index(fields=["service_id"], name="request_service_id_idx"),
            models.Index(fields=["service_name"], name="request_service_name_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.service_description or self.region_id}"

    def get_absolute_url(self):
        return reverse("service_requests:detail", args=[self.pk])

    @property
    def is_editable(self):
        return self.state in EDITABLE_STATES

    @property
    def is_before_approval(self):
        return self.state in EDITABLE_STATES or self.state == State.PENDING_APPROVAL

    @property
    def is_live(self):
        return self.state in LIVE_STATES

    @property
    def is_final(self):
        return self.state in FINAL_STATES

    def steps(self):
        """Return [(label, "done" | "current" | "todo")] along the happy path, for the page."""
        path = [
            State.PENDING_APPROVAL,
            State.APPROVED,
            State.PROVISIONING,
            State.CREATING,
            State.ACTIVE,
        ]
        if self.state not in path:
            return []
        reached = path.index(self.state)
        return [
            (
                "Submitted" if state == State.PENDING_APPROVAL else state.label,
                "done"
                if i < reached or self.state == State.ACTIVE
                else "current"
                if i == reached
                else "todo",
            )
            for i, state in enumerate(path)
        ]

    @property
    def provisioning_elapsed(self):
        """Seconds since provisioning started, up to now or to the final state."""
        if self.provisioning_started_at is None:
            return None
        end = self.state_changed_at if self.is_final else timezone.now()
        return max(0, int((end - self.provisioning_started_at).total_seconds()))

    def can(self, action):
        sources, _target = TRANSITIONS[action]
        return self.state in sources

    def move(self, action, *, actor, comment="", details=None, fields=()):
        """Apply a lifecycle action and write its audit event; the caller holds the row lock."""
        sources, target = TRANSITIONS[action]
        if self.state not in sources:
            raise TransitionNotAllowed(action, self.state)
        previous = self.state
        self.state = target
        self.state_changed_at = timezone.now()
        if action == "submit":
            self.submitted_at = self.state_changed_at
            self.revision += 1
        if action in ("approve", "reject", "send_back"):
            self.decided_at = self.state_changed_at
        self.save(
            update_fields=[
                "state",
                "state_changed_at",
                "submitted_at",
                "decided_at",
                "revision",
                "updated_at",
                *fields,
            ]
        )
        return self.record(
            action, actor=actor, comment=comment, details=details, from_state=previous
        )

    def record(self, action, *, actor, comment="", details=None, from_state=None):
        """Append an audit event for this request (a transition, an edit, a cloud call).

        The chain head lives on this row; locking it orders the request's events, so callers
        need not hold the lock themselves.
        """
        with transaction.atomic():
            head = (
                ServiceRequest.objects.select_for_update()
                .values("audit_event_count", "audit_last_hash")
                .get(pk=self.pk)
            )
            event = AuditEvent(
                request=self,
                seq=head["audit_event_count"] + 1,
                actor=actor,
                action=action,
                from_state=from_state if from_state is not None else self.state,
                to_state=self.state,
                comment=comment,
                details=details or {},
                created_at=timezone.now(),
                prev_hash=head["audit_last_hash"] or GENESIS,
            )
            event.hash = chain_hash(event.prev_hash, event_content(event))
            event.save()
            ServiceRequest.objects.filter(pk=self.pk).update(
                audit_event_count=event.seq, audit_last_hash=event.hash
            )
            self.audit_event_count, self.audit_last_hash = event.seq, event.hash
        return event

    def note_cloud_call(self, record):
        """Keep a cloud call's outcome on the row; the caller saves and records the event."""
        self.last_cloud_action = record.action
        self.last_cloud_outcome = record.outcome
        self.last_cloud_at = timezone.now()
        if record.request_id:
            self.cloud_request_id = record.request_id

    def current_approvals(self):
        return self.approvals.filter(revision=self.revision, decision=Decision.APPROVE)

    def create_parameters(self):
        """Return (fields, resources, tags) as plain data, the way the cloud layer takes them."""
        fields = {name: getattr(self, name) for name in CLOUD_FIELDS}
        resources = [
            {"resource_type": r.resource_type, "resource_id": r.resource_id, "zone_id": r.zone_id}
            for r in self.resources.all()
        ]
        tags = [{"key": t.key, "value": t.value} for t in self.tags.all()]
        return fields, resources, tags


CLOUD_FIELDS = [
    "region_id",
    "service_description",
    "auto_accept_enabled",
    "payer",
    "zone_affinity_enabled",
    "service_resource_type",
    "resource_group_id",
    "address_ip_version",
    "supported_region_list",
]
# What the form edits: the cloud's parameters and, for the approvers, the justification.
EDITABLE_FIELDS = [*CLOUD_FIELDS, "justification"]


class RequestResource(models.Model):
    """A load balancer that will back the endpoint service."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="resources")
    position = models.PositiveSmallIntegerField(default=0)
    resource_type = models.CharField(max_length=8, choices=ResourceType.choices)
    resource_id = models.CharField(max_length=64)
    zone_id = models.CharField("zone", max_length=64, blank=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["resource_id"], name="resource_id_idx")]

    def __str__(self):
        return f"{self.resource_type} {self.resource_id} ({self.zone_id or 'any zone'})"


class RequestTag(models.Model):
    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="tags")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.CharField(max_length=64)
    value = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "key"], name="tag_key_unique_per_request")
        ]

    def __str__(self):
        return f"{self.key}={self.value}"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    SEND_BACK = "send_back", "Sent back"


class Approval(models.Model):
    """One approver's decision on one revision of a request."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals"
    )
    revision = models.PositiveIntegerField()
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The database, not only the code, refuses a second vote by one approver.
            models.UniqueConstraint(
                fields=["request", "approver", "revision"], name="one_decision_per_approver"
            )
        ]

    def __str__(self):
        return f"{self.approver} {self.get_decision_display().lower()} #{self.request_id}"
