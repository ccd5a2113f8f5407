"""Every request so far is a create request; each service it created becomes a record.

Approvals of the current revision get the digest of the content they approved, so that the
approvals of requests waiting in the queue keep counting. Audit events are untouched: their
hashes do not cover the new fields, and every chain verifies as before.
"""

from django.db import migrations

from portal.lib.digests import content_digest

STATUSES = {"Active": "active", "Creating": "creating", "Pending": "pending", "Deleting": "deleting"}
CONFIG = [
    "service_description",
    "auto_accept_enabled",
    "zone_affinity_enabled",
    "address_ip_version",
]
FIELDS = [
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


def _rows(request):
    resources = [
        {"resource_type": r.resource_type, "resource_id": r.resource_id, "zone_id": r.zone_id}
        for r in request.resources.order_by("position", "id")
    ]
    tags = [{"key": t.key, "value": t.value} for t in request.tags.order_by("position", "id")]
    return resources, tags


def forward(apps, schema_editor):
    ServiceRequest = apps.get_model("service_requests", "ServiceRequest")
    EndpointService = apps.get_model("endpoint_services", "EndpointService")
    Approval = apps.get_model("service_requests", "Approval")
    for request in ServiceRequest.objects.exclude(service_id="").order_by("pk").iterator(2000):
        resources, tags = _rows(request)
        if request.state == "active":
            status = "active"
        else:
            status = STATUSES.get(request.cloud_status, "creating")
        config = {name: getattr(request, name) for name in CONFIG}
        service, _created = EndpointService.objects.get_or_create(
            service_id=request.service_id,
            defaults={
                "region_id": request.region_id,
                "service_name": request.service_name,
                "service_domain": request.service_domain,
                "status": status,
                "cloud_status": request.cloud_status,
                "owner_id": request.requester_id,
                "payer": request.payer,
                "service_resource_type": request.service_resource_type,
                "resource_group_id": request.resource_group_id,
                "supported_region_list": request.supported_region_list or [request.region_id],
                "resources": resources,
                "zones": sorted({r["zone_id"] for r in resources if r["zone_id"]}),
                "tags": sorted(tags, key=lambda t: t["key"]),
                "created_at": request.state_changed_at,
                **config,
                "approved": {
                    **config,
                    "connect_bandwidth": None,
                    "supported_region_list": sorted(
                        request.supported_region_list or [request.region_id]
                    ),
                    "resources": sorted(
                        resources, key=lambda r: (r["resource_id"], r["zone_id"])
                    ),
                    "tags": sorted(tags, key=lambda t: t["key"]),
                }
                if status == "active"
                else {},
            },
        )
        ServiceRequest.objects.filter(pk=request.pk).update(endpoint_service=service)
    pending = ServiceRequest.objects.filter(approvals__isnull=False).distinct()
    for request in pending.order_by("pk").iterator(2000):
        resources, tags = _rows(request)
        digest = content_digest(
            {
                "kind": "create",
                "requester": request.requester_id,
                "service": None,
                **{name: getattr(request, name) for name in FIELDS},
                "connect_bandwidth": None,
                "resources": resources,
                "tags": tags,
                "justification": request.justification,
                "target_owner": None,
                "plan": [],
            }
        )
        Approval.objects.filter(request=request, revision=request.revision).update(digest=digest)


def backward(apps, schema_editor):
    ServiceRequest = apps.get_model("service_requests", "ServiceRequest")
    EndpointService = apps.get_model("endpoint_services", "EndpointService")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    if AuditEvent.objects.filter(service__isnull=False).exists():
        raise migrations.exceptions.IrreversibleError(
            "Services have their own audit history now (drift, adoption, decommission): going "
            "back would delete it. Restore a backup taken before this migration instead."
        )
    ServiceRequest.objects.update(endpoint_service=None)
    EndpointService.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("service_requests", "0006_kinds_services_plans"),
        ("endpoint_services", "0001_initial"),
        ("audit", "0005_service_events"),
    ]

    operations = [migrations.RunPython(forward, backward)]
