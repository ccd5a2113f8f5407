import uuid
from functools import partial

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import prefetch_related_objects
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from portal.audit.actions import Action
from portal.audit.models import AuditedSubject
from portal.cloud import services as cloud
from portal.lib.digests import content_digest
from portal.service_requests.signals import pending_changed


def new_client_token():
    """Make the ClientToken that makes every Create of this request idempotent (ASCII, 36)."""
    return f"plp-{uuid.uuid4().hex}"


class Kind(models.TextChoices):
    CREATE = "create", "Create a service"
    CHANGE = "change", "Change a service"
    DECOMMISSION = "decommission", "Decommission a service"
    ACCESS = "access", "Give an account access"
    REVOKE = "revoke", "Revoke an account's access"
    ADOPT = "adopt", "Adopt an unmanaged service"
    TRANSFER = "transfer", "Transfer a service to another team"


class Deciders(models.TextChoices):
    """Who decides a request (policy.route)."""

    PLATFORM = "platform", "The platform's approvers"
    TEAM = "team", "The team's approvers"
    TEAM_MEMBERS = "team_members", "The team's members"
    OWNER = "owner", "The service's owner and the platform's approvers"


class State(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    PROVISIONING = "provisioning", "Provisioning"
    CREATING = "creating", "Creating"
    ACTIVE = "active", "Active"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


EDITABLE_STATES = {State.DRAFT, State.CHANGES_REQUESTED}
# The kinds about one consumer account of a service: its allow-list entry.
ACCOUNT_KINDS = {Kind.ACCESS, Kind.REVOKE}
LIVE_STATES = {State.APPROVED, State.PROVISIONING, State.CREATING, State.APPLYING}
# The error code of a request the worker refused: its audit log does not explain it.
UNEXPLAINED_CODE = "UnexplainedApproval"
FINAL_STATES = {State.ACTIVE, State.APPLIED, State.REJECTED, State.CANCELLED, State.FAILED}

# The lifecycles, in one place: kind -> action -> (states it may start from, state it leads to).
# Every kind shares the way to a decision; what follows approval is the kind's own.
_DECIDING = {
    Action.SUBMIT: ({State.DRAFT, State.CHANGES_REQUESTED}, State.PENDING_APPROVAL),
    Action.APPROVE: ({State.PENDING_APPROVAL}, State.APPROVED),
    Action.REJECT: ({State.PENDING_APPROVAL}, State.REJECTED),
    Action.SEND_BACK: ({State.PENDING_APPROVAL}, State.CHANGES_REQUESTED),
    Action.CANCEL: (
        {State.DRAFT, State.PENDING_APPROVAL, State.CHANGES_REQUESTED},
        State.CANCELLED,
    ),
}
CREATE_TRANSITIONS = {
    **_DECIDING,
    Action.START_PROVISIONING: ({State.APPROVED}, State.PROVISIONING),
    Action.MARK_CREATING: ({State.PROVISIONING}, State.CREATING),
    Action.MARK_ACTIVE: ({State.PROVISIONING, State.CREATING}, State.ACTIVE),
    Action.FAIL: ({State.APPROVED, State.PROVISIONING, State.CREATING}, State.FAILED),
    Action.RETRY: ({State.FAILED}, State.APPROVED),
}
APPLY_TRANSITIONS = {
    **_DECIDING,
    Action.START_APPLYING: ({State.APPROVED}, State.APPLYING),
    Action.MARK_APPLIED: ({State.APPROVED, State.APPLYING}, State.APPLIED),
    Action.FAIL: ({State.APPROVED, State.APPLYING}, State.FAILED),
    Action.RETRY: ({State.FAILED}, State.APPROVED),
}
TRANSITIONS = {kind: APPLY_TRANSITIONS for kind in Kind} | {Kind.CREATE: CREATE_TRANSITIONS}
# The happy path of each lifecycle, for the steps shown on the page.
PATHS = {
    kind: (State.PENDING_APPROVAL, State.APPROVED, State.APPLYING, State.APPLIED) for kind in Kind
}
PATHS[Kind.CREATE] = (
    State.PENDING_APPROVAL,
    State.APPROVED,
    State.PROVISIONING,
    State.CREATING,
    State.ACTIVE,
)
# What a person may do to a request (the rest is the workers'), in the order pages offer it.
USER_ACTIONS = ("edit", "submit", "validate", "approve", "send_back", "reject", "cancel", "retry")


def lifecycle_problem(kind, events):
    """Return why a request's events do not make one lawful life, or None.

    `events` are (seq, action, from_state, to_state) in order. Each event must start from the
    state the one before left, and each change of state must be a transition of the kind's
    lifecycle: a row moved by hand, and an event written on top of it, show here. The life
    begins with its creation as a draft, or (for requests older than the one audit log) at
    its baseline, which attests the state it had then.
    """
    events = list(events)
    if not events:
        return None
    starts = [i for i, event in enumerate(events) if event[1] == Action.BASELINE]
    if starts:
        start = starts[-1]
    else:
        start = 0
        seq, action, _from_state, to_state = events[0]
        if action != "created" or to_state != State.DRAFT:
            return seq, f"the request's life does not begin with its creation ({action})"
    transitions = TRANSITIONS[kind]
    current = events[start][3]
    for seq, action, from_state, to_state in events[start + 1 :]:
        if from_state != current:
            return seq, (
                f"#{seq} ({action}) starts from {from_state!r}, but the event before left the "
                f"request {current!r}"
            )
        if to_state != from_state:
            sources, target = transitions.get(action, ((), None))
            if from_state not in sources or to_state != target:
                return seq, f"#{seq}: {action} does not lead from {from_state!r} to {to_state!r}"
        current = to_state
    return None


def states_of(kind):
    """Return the states a request of `kind` can be in, in lifecycle order."""
    used = {State.DRAFT}
    for sources, target in TRANSITIONS[kind].values():
        used |= sources | {target}
    return [state for state in State if state in used]


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


class ServiceRequest(AuditedSubject):
    """A person's request about an endpoint service: create one, change it, decommission it...

    A create request carries CreateVpcEndpointService's parameters and ends `active`; the
    other kinds name their service and carry the plan of cloud operations the approvers
    approve (`operations`), and end `applied`. The service itself is an `EndpointService`,
    which outlives every request.
    """

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CREATE)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_requests"
    )
    # Not `service`: `service_id` is the cloud's ServiceId, a column since the first version.
    endpoint_service = models.ForeignKey(
        "endpoint_services.EndpointService",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
        help_text="The service this request is about; a create request's once Create answers.",
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    revision = models.PositiveIntegerField(
        default=1,
        help_text="Bumped by every edit and submission; an approval binds to one revision.",
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
    connect_bandwidth = models.PositiveIntegerField(
        "connection bandwidth (Mbit/s)",
        null=True,
        blank=True,
        help_text="Default bandwidth of new slb/alb connections, 100-10240.",
    )
    justification = models.TextField(blank=True, help_text="Why this is needed, for the approvers.")
    account_id = models.CharField(
        "account",
        max_length=32,
        blank=True,
        help_text="The consumer's Alibaba Cloud account id (access and revoke), or * for all.",
    )
    target_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who will own the service (adoption).",
    )
    target_team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team that will own the service (creation, adoption, transfer).",
    )
    cloud_account = models.ForeignKey(
        "teams.CloudAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The account a create request makes its service in; none: the portal's own.",
    )
    # Who decides the request, as policy.route said when it was last submitted ("": not
    # routed, as requests submitted before routing were: policy.routed asks route).
    decided_by = models.CharField(max_length=12, choices=Deciders.choices, blank=True, default="")
    deciding_team = models.ForeignKey(
        "teams.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    routing_reason = models.CharField(max_length=300, blank=True)

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
    # The worker's chain of tasks for this request: each carries this token, and a chain
    # whose token is no longer the request's (the reconciler started a new one) stops.
    work_token = models.CharField(max_length=32, blank=True, editable=False)
    # The one-time key of the form render that filed this request: the same render sent
    # again (the back button, a double click, a retry after a lost answer) leads here.
    submission_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # When the next task of the chain is due (a poll, a retry after the cloud's retry-after):
    # until then (and RECONCILE_AFTER more) the reconciler leaves the request alone.
    next_step_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    # When those who may decide were last reminded of the request, and when the escalation
    # group last heard of it; a time before submitted_at was of an earlier submission.
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="request_requester_idx"),
            models.Index(fields=["state", "-created_at"], name="request_state_idx"),
            # The approvers' queue: pending requests, oldest submission first, a page at a time.
            models.Index(fields=["state", "submitted_at", "id"], name="request_queue_idx"),
            # What waits for others, per approver: every pending request's requester and
            # revision, read from this small index alone (PostgreSQL; elsewhere a partial index);
            # with who decides it, so is the count of what is routed to a decider (without
            # them, a scan of the whole table: 20-40 ms at 36,000 requests, and growing).
            models.Index(
                fields=["submitted_at", "id"],
                include=["requester", "revision", "decided_by", "deciding_team"],
                condition=models.Q(state="pending_approval"),
                name="request_pending_idx",
            ),
            # Requests the worker refused (failed, UnexplainedApproval): counted on admins' and
            # auditors' every page. With the time of the failure: the insights' failures by
            # code read only this index.
            models.Index(
                fields=["state", "error_code", "state_changed_at"], name="request_error_idx"
            ),
            models.Index(fields=["state", "updated_at"], name="request_state_updated_idx"),
            # With the state: the insights' outcomes per week read only this index.
            models.Index(fields=["-created_at", "-id", "state"], name="request_created_idx"),
            models.Index(fields=["region_id", "-created_at"], name="request_region_idx"),
            # With what the insights' lead times need: they read only this index.
            models.Index(
                fields=["decided_at", "submitted_at", "state", "state_changed_at"],
                name="request_decided_idx",
            ),
            models.Index(fields=["service_id"], name="request_service_id_idx"),
            models.Index(fields=["service_name"], name="request_service_name_idx"),
            # Who asked for each allow-list entry; an account asked for twice.
            models.Index(fields=["endpoint_service", "account_id"], name="request_account_idx"),
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

    @property
    def is_create(self):
        return self.kind == Kind.CREATE

    def reach(self):
        """As whom and where the cloud layer calls for this request: its service's account,
        else (a create request) the account it names, else the portal's own."""
        if self.endpoint_service_id is not None:
            return self.endpoint_service.reach()
        return self.cloud_account.reach() if self.cloud_account_id else cloud.HOME

    @property
    def transitions(self):
        return TRANSITIONS[self.kind]

    def steps(self):
        """Return [(label, "done" | "current" | "todo")] along the happy path, for the page."""
        path = PATHS[self.kind]
        if self.state not in path:
            return []
        reached = path.index(self.state)
        last = len(path) - 1
        return [
            (
                "Submitted" if state == State.PENDING_APPROVAL else state.label,
                "done" if i < reached or reached == last else "current" if i == reached else "todo",
            )
            for i, state in enumerate(path)
        ]

    @property
    def provisioning_seconds(self):
        """How long the cloud work took, once it is over; None while it goes on."""
        if self.provisioning_started_at is None or not self.is_final:
            return None
        return max(0, int((self.state_changed_at - self.provisioning_started_at).total_seconds()))

    def can(self, action):
        """Whether the lifecycle of this request's kind allows `action` from its state."""
        step = self.transitions.get(action)
        return step is not None and self.state in step[0]

    def move(self, action, *, actor, comment="", details=None, fields=()):
        """Apply a lifecycle action and write its audit event; the caller holds the row lock."""
        if not self.can(action):
            raise TransitionNotAllowed(action, self.state)
        previous = self.state
        self.state = self.transitions[action][1]
        self.state_changed_at = timezone.now()
        if action == "submit":
            self.submitted_at = self.state_changed_at
            self.revision += 1
            # A submission is of one content: the event keeps all of it.
            details = self.explained(**(details or {}))
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
            action, actor=actor, comment=comment, details=details, from_state=previous, saved=True
        )

    def chain_links(self):
        return {"request_id": self.pk, "service_id": self.endpoint_service_id}

    def record(self, action, **kwargs):
        event = super().record(action, **kwargs)
        if State.PENDING_APPROVAL in (event.from_state, event.to_state):
            # It entered, left, or was decided on: what the approvers' queue shows changed.
            transaction.on_commit(
                partial(pending_changed.send, sender=ServiceRequest, service_request=self)
            )
        return event

    def note_cloud_call(self, record):
        """Keep a cloud call's outcome on the row; the caller saves and records the event."""
        self.last_cloud_action = record.action
        self.last_cloud_outcome = record.outcome
        self.last_cloud_at = timezone.now()
        if record.request_id:
            self.cloud_request_id = record.request_id

    def create_parameters(self):
        """Return (fields, resources, tags) as plain data, the way the cloud layer takes them."""
        cached = getattr(self, "_prefetched_objects_cache", {})
        if self.state not in EDITABLE_STATES and self.pk and "tags" not in cached:
            # Rows nobody may edit any more: read them once per instance (a worker's step
            # asks four times: its check, the call, the service record, its approval),
            # with the plan that the content digest also reads.
            prefetch_related_objects([self], "resources", "tags", "operations")
        fields = {name: getattr(self, name) for name in CLOUD_FIELDS}
        resources = [
            {"resource_type": r.resource_type, "resource_id": r.resource_id, "zone_id": r.zone_id}
            for r in self.resources.all()
        ]
        tags = [{"key": t.key, "value": t.value} for t in self.tags.all()]
        return fields, resources, tags

    def desired_config(self):
        """Return the configuration a change request asks for, as plans take it."""
        _fields, resources, tags = self.create_parameters()
        return {
            **{name: getattr(self, name) for name in CHANGE_FIELDS},
            "resources": resources,
            "tags": tags,
        }

    def content(self):
        """Return all that approvers are shown of this revision, as plain data."""
        fields, resources, tags = self.create_parameters()
        return {
            "kind": self.kind,
            "requester": self.requester_id,
            # A create request's service is its outcome, not part of what was approved.
            "service": None if self.is_create else self.service_id,
            **fields,
            "connect_bandwidth": self.connect_bandwidth,
            "resources": resources,
            "tags": tags,
            "justification": self.justification,
            "target_owner": self.target_owner_id,
            "plan": [op.content() for op in self.operations.all()],
            # Only the kinds that have one: older requests' digests stay as they were.
            **({"account_id": self.account_id} if self.kind in ACCOUNT_KINDS else {}),
            **({"target_team": self.target_team_id} if self.target_team_id else {}),
            **({"cloud_account": self.cloud_account_id} if self.cloud_account_id else {}),
        }

    def digest(self):
        return content_digest(self.content())

    def explained(self, **details):
        """Event details that record the whole content of this revision: what the audit
        log checks the request against, and what an auditor reads of each revision."""
        content = self.content()
        return {
            **details,
            "revision": self.revision,
            "content": content,
            "digest": content_digest(content),
        }

    def current_approvals(self):
        """Approvals of this revision that bind to its content as it is now."""
        return self.approvals.filter(
            revision=self.revision, digest=self.digest(), decision=Decision.APPROVE
        )

    def approving_people(self):
        """How many people approved this revision as it is: a delegate's approval is the
        delegator's, so a delegator and their delegate count once."""
        return (
            self.current_approvals()
            .values(principal=Coalesce("on_behalf_of", "approver"))
            .distinct()
            .count()
        )


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
# What a change request edits: the attributes UpdateVpcEndpointServiceAttribute can change.
CHANGE_FIELDS = [
    "service_description",
    "auto_accept_enabled",
    "zone_affinity_enabled",
    "connect_bandwidth",
    "address_ip_version",
    "supported_region_list",
]


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
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="approvals",
        db_index=False,  # approval_approver_idx leads with it
    )
    # Set when the approver decided as someone's delegate, with that person's right: the
    # decision counts as theirs (one person, however many delegates they have).
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approvals_by_delegate",
    )
    revision = models.PositiveIntegerField()
    digest = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the request's content the approver was shown (see content()).",
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # An approver's approvals with what the queue matches them on, from the index alone.
            models.Index(fields=["approver", "request", "revision"], name="approval_approver_idx")
        ]
        constraints = [
            # The database, not only the code, refuses a second vote by one approver.
            models.UniqueConstraint(
                fields=["request", "approver", "revision"], name="one_decision_per_approver"
            )
        ]

    def __str__(self):
        return f"{self.approver} {self.get_decision_display().lower()} #{self.request_id}"

    @property
    def principal_id(self):
        """Whose right the decision used: the delegator's, if taken as their delegate."""
        return self.on_behalf_of_id or self.approver_id

    def as_record(self):
        """What the audit log keeps of the decision, to check this row against.

        `on_behalf_of` only when set: records of decisions older than delegation stay as
        they were written."""
        record = {
            "approver": self.approver_id,
            "revision": self.revision,
            "digest": self.digest,
            "decision": self.decision,
            "comment": self.comment,
        }
        if self.on_behalf_of_id:
            record["on_behalf_of"] = self.on_behalf_of_id
        return record


def new_operation_token():
    return f"plo-{uuid.uuid4().hex}"


class OperationState(models.TextChoices):
    PENDING = "pending", "Not applied yet"
    CALLED = "called", "Called; waiting for the service"
    APPLIED = "applied", "Applied"


class RequestOperation(models.Model):
    """One cloud operation of a request's plan, applied in order, each with its own ClientToken.

    `params` are the operation's parameters in snake_case, without RegionId, ServiceId,
    ClientToken and DryRun, which the worker adds. An asynchronous operation is `called`
    until the service leaves Pending; only then is it `applied` and the next one may start.
    """

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="operations")
    position = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=list, blank=True, help_text="The plan's lines, as shown.")
    client_token = models.CharField(max_length=64, unique=True, default=new_operation_token)
    state = models.CharField(
        max_length=10, choices=OperationState.choices, default=OperationState.PENDING
    )
    outcome = models.CharField(max_length=100, blank=True)
    cloud_request_id = models.CharField(max_length=64, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "position"], name="one_operation_per_position"
            )
        ]

    def __str__(self):
        return f"{self.position + 1}. {self.action}"

    def content(self):
        return {"action": self.action, "params": self.params}


class RevisionSeen(models.Model):
    """The newest revision of a request one decider has opened, and the one they saw before.

    The approver's panel shows what changed since then. Written when a decider opens the page
    of a pending request, never by a poll; opening the same revision again writes nothing, so
    a reload shows the same changes as the first look.
    """

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="seen_by")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField()
    previous_revision = models.PositiveIntegerField(
        null=True, blank=True, help_text="The revision this person had seen before `revision`."
    )
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "user"], name="one_seen_row_per_person")
        ]

    def __str__(self):
        return f"{self.user} saw #{self.request_id} at revision {self.revision}"

    @classmethod
    def note(cls, service_request, user, seen):
        """Record that `user` opened `service_request` at its revision; `seen` is their row as
        read before (or None). Idempotent: two tabs at once or a reload change nothing more."""
        revision = service_request.revision
        if seen is None:
            cls.objects.get_or_create(
                request=service_request, user=user, defaults={"revision": revision}
            )
        elif seen.revision < revision:
            # One conditional update: the right-hand sides read the row as it was.
            cls.objects.filter(pk=seen.pk, revision__lt=revision).update(
                previous_revision=models.F("revision"), revision=revision, seen_at=timezone.now()
            )
