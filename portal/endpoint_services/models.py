"""The endpoint service as a record that outlives every request about it."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from portal.audit.models import AuditedSubject
from portal.cloud import services as cloud
from portal.lib.digests import content_digest


class ServiceStatus(models.TextChoices):
    CREATING = "creating", "Creating"
    ACTIVE = "active", "Active"
    PENDING = "pending", "Pending (an update in flight)"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"


# The cloud's ServiceStatus -> the record's status; a service the cloud no longer knows is deleted.
CLOUD_STATUSES = {
    "Creating": ServiceStatus.CREATING,
    "Active": ServiceStatus.ACTIVE,
    "Pending": ServiceStatus.PENDING,
    "Deleting": ServiceStatus.DELETING,
}
IN_FLIGHT_STATUSES = {ServiceStatus.CREATING, ServiceStatus.PENDING, ServiceStatus.DELETING}
# The part of a service's configuration the portal approves and watches for drift.
CONFIG_FIELDS = [
    "service_description",
    "auto_accept_enabled",
    "zone_affinity_enabled",
    "connect_bandwidth",
    "address_ip_version",
    "supported_region_list",
]


class EndpointService(AuditedSubject):
    """One PrivateLink endpoint service, as last read from the cloud, with its owner.

    `approved` is the configuration the portal stands behind (what its requests created and
    changed, or what an owner accepted); the columns and `resources`/`tags` are what the cloud
    said last. When they differ, the service has drifted: someone changed it elsewhere.
    """

    region_id = models.CharField("region", max_length=64)
    service_id = models.CharField("ServiceId", max_length=64, unique=True)
    service_name = models.CharField("ServiceName", max_length=200, blank=True)
    service_domain = models.CharField("ServiceDomain", max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=ServiceStatus.choices, default=ServiceStatus.CREATING
    )
    cloud_status = models.CharField(max_length=20, blank=True)
    business_status = models.CharField(max_length=20, blank=True)
    managed = models.BooleanField(
        default=True, help_text="False for a service found in the cloud that nobody adopted yet."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="endpoint_services",
        help_text="Who asked for it (or adopted it): its owner while no team owns it.",
    )
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="services",
        help_text="The team that owns the service: any member looks after it.",
    )
    cloud_account = models.ForeignKey(
        "teams.CloudAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="services",
        help_text="The account the service lives in; none: the portal's own account.",
    )

    # The attributes, as last read.
    service_description = models.CharField(max_length=256, blank=True)
    service_resource_type = models.CharField(max_length=8, blank=True)
    payer = models.CharField(max_length=20, blank=True)
    auto_accept_enabled = models.BooleanField(default=False)
    zone_affinity_enabled = models.BooleanField(default=False)
    connect_bandwidth = models.PositiveIntegerField(null=True, blank=True)
    address_ip_version = models.CharField(max_length=10, blank=True)
    resource_group_id = models.CharField(max_length=64, blank=True)
    supported_region_list = models.JSONField(default=list, blank=True)
    zones = models.JSONField(default=list, blank=True)
    resources = models.JSONField(
        default=list, blank=True, help_text="[{resource_type, resource_id, zone_id, ...}]"
    )
    tags = models.JSONField(default=list, blank=True, help_text="[{key, value}] by key")
    allowed_users = models.JSONField(
        default=list, blank=True, help_text="Account ids on the allow-list, as last read."
    )
    allow_entries = models.JSONField(
        default=list,
        blank=True,
        help_text="The allow-list as the cloud keeps it: [{user_id} or {user_arn}], as last read.",
    )
    users_read_at = models.DateTimeField(null=True, blank=True)
    cloud_created_at = models.CharField(max_length=32, blank=True)

    approved = models.JSONField(
        default=dict, blank=True, help_text="The configuration the portal stands behind."
    )
    drifted = models.BooleanField(default=False)
    drift = models.JSONField(default=list, blank=True, help_text="What differs, one line each.")
    # A digest of what ListVpcEndpointServices shows of the service: a drift pass compares
    # digests and reads more only of the services whose digest moved.
    list_digest = models.CharField(max_length=64, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    resources_read_at = models.DateTimeField(null=True, blank=True)
    connections_read_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_outside = models.BooleanField(
        default=False, help_text="Deleted by someone other than the portal."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="service_created_idx"),
            models.Index(fields=["owner", "-created_at"], name="service_owner_idx"),
            models.Index(fields=["region_id", "-created_at"], name="service_region_idx"),
            models.Index(fields=["status", "-created_at"], name="service_status_idx"),
            models.Index(fields=["managed", "region_id"], name="service_managed_idx"),
            # The insights' services by region and status: read in this index's order, counted.
            models.Index(fields=["region_id", "status"], name="service_region_status_idx"),
        ]

    def __str__(self):
        return self.service_id

    def get_absolute_url(self):
        return reverse("endpoint_services:detail", args=[self.service_id])

    @property
    def in_flight(self):
        return self.status in IN_FLIGHT_STATUSES

    @property
    def is_live(self):
        return self.status != ServiceStatus.DELETED

    def chain_links(self):
        return {"service_id": self.pk, "request_id": None}

    def config(self):
        """Return the configuration as last read, in the shape `approved` keeps."""
        return {
            **{name: getattr(self, name) for name in CONFIG_FIELDS},
            "resources": [
                {k: r.get(k, "") for k in ("resource_type", "resource_id", "zone_id")}
                for r in self.resources
            ],
            "tags": [{"key": t["key"], "value": t["value"]} for t in self.tags],
            "allowed_users": sorted(self.allowed_users),
        }

    def stewardship(self):
        """What the audit log checks this record against: which service it is, what the
        portal approved of it, whose it is, and whether the portal manages it."""
        return {
            "approved": self.approved,
            "approved_digest": content_digest(self.approved),
            "owner": self.owner_id,
            # Only once a team owns it: older events' records stay as they were.
            **({"team": self.team_id} if self.team_id is not None else {}),
            "managed": self.managed,
            "service_id": self.service_id,
            "region_id": self.region_id,
            # Only once it has one: older events' records stay as they were.
            **({"account": self.cloud_account_id} if self.cloud_account_id is not None else {}),
        }

    def reach(self):
        """As whom and where the cloud layer calls about this service."""
        return self.cloud_account.reach() if self.cloud_account_id else cloud.HOME

    def resources_by_zone(self):
        """Return [(zone, [resource rows])] for the page."""
        zones = {}
        for row in self.resources:
            zones.setdefault(row.get("zone_id") or "", []).append(row)
        return sorted(zones.items())


# ConnectionStatus values in which the cloud is still moving a connection.
CONNECTION_IN_FLIGHT = {"Connecting", "Disconnecting", "Pending", "Deleting"}


class EndpointConnection(models.Model):
    """A consumer's endpoint connected (or asking to connect) to a service, as last read.

    ListVpcEndpointConnections is the truth; a row keeps what it said, which access request
    admitted the endpoint's account, what the owner last asked of it, and whether the owner
    has been told that it waits.
    """

    service = models.ForeignKey(
        EndpointService, on_delete=models.CASCADE, related_name="connections"
    )
    endpoint_id = models.CharField("EndpointId", max_length=64)
    endpoint_owner_id = models.CharField("consumer account", max_length=32, blank=True)
    endpoint_vpc_id = models.CharField("VPC", max_length=64, blank=True)
    status = models.CharField("ConnectionStatus", max_length=20, blank=True)
    bandwidth = models.PositiveIntegerField(null=True, blank=True)
    zones = models.JSONField(default=list, blank=True)
    modified_time = models.CharField(max_length=32, blank=True)
    ready = models.BooleanField(
        default=True, help_text="False while the consumer's endpoint is still being created."
    )
    resource_owner = models.BooleanField(
        default=False, help_text="The endpoint is the service owner's own account's."
    )
    access_request = models.ForeignKey(
        "service_requests.ServiceRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The access request that put the consumer's account on the allow-list.",
    )
    # What the owner asked last ("accept" or "reject") while the cloud has not settled it;
    # a second click meanwhile makes no second call, and a repeat after a lost answer reuses
    # the ClientToken, so the cloud does it once.
    pending_action = models.CharField(max_length=10, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)
    pending_token = models.CharField(max_length=64, blank=True)
    # A waiting endpoint the owner turned down: it stays Disconnected, no longer "waiting".
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    waiting_notified_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(default=timezone.now)
    gone = models.BooleanField(default=False, help_text="No longer listed by the cloud.")

    class Meta:
        ordering = ["-first_seen_at", "endpoint_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "endpoint_id"], name="one_connection_per_endpoint"
            )
        ]
        indexes = [
            models.Index(fields=["service", "gone", "-first_seen_at"], name="connection_list_idx")
        ]

    def __str__(self):
        return f"{self.endpoint_id} -> {self.service_id}"

    @property
    def in_flight(self):
        return bool(self.pending_action) or self.status in CONNECTION_IN_FLIGHT

    @property
    def waiting(self):
        """An endpoint that waits for its owner: ready, Disconnected, not turned down."""
        return (
            self.status == "Disconnected" and self.ready and not self.gone and not self.rejected_at
        )
