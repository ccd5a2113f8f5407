"""From one chain per request or service to one keyed chain for the whole portal.

Forward: verify every old chain (plain SHA-256, per subject) and refuse to go on if one is
broken, since sealing it would launder the break; then number every event 1..N in the order
they happened, seal each with the current AUDIT_HMAC_KEYS key after the one before it, and
append one `baseline` event per request and per service that records what the rows hold now
(content, approvals, approved configuration): the old events did not record all of it, and
the verifier checks every row against the events. Backward: drop the baselines and rebuild
the per-subject chains.
"""

from django.db import migrations, models

from portal.audit import chain, legacy
from portal.lib.digests import content_digest

BATCH = 2000
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


class ChainBroken(RuntimeError):
    pass


def _verify_legacy(events, subjects, subject_field, noun):
    """Check the old per-subject chains; raise ChainBroken at the first break."""
    heads = {pk: (count, last) for pk, count, last in subjects}
    current, prev, count = None, legacy.GENESIS, 0
    seen = set()

    def check_head():
        expected = heads.get(current)
        if expected is None or expected != (count, prev):
            raise ChainBroken(f"the audit chain of {noun} #{current} is broken at its head")

    for event in events.iterator(chunk_size=BATCH):
        subject = getattr(event, subject_field)
        if subject != current:
            if current is not None:
                check_head()
            current, prev, count = subject, legacy.GENESIS, 0
            seen.add(subject)
        count += 1
        if event.seq != count or event.prev_hash != prev:
            raise ChainBroken(f"the audit chain of {noun} #{subject} is broken at seq {event.seq}")
        if legacy.chain_hash(prev, legacy.event_content(event)) != event.hash:
            raise ChainBroken(f"event {event.seq} of {noun} #{subject} was edited")
        prev = event.hash
    if current is not None:
        check_head()
    for pk, (expected, _last) in heads.items():
        if expected and pk not in seen:
            raise ChainBroken(f"the events of {noun} #{pk} were removed")


def _content(request):
    """ServiceRequest.content() as of this migration, for historical rows."""
    return {
        "kind": request.kind,
        "requester": request.requester_id,
        "service": None if request.kind == "create" else request.service_id,
        **{name: getattr(request, name) for name in CLOUD_FIELDS},
        "connect_bandwidth": request.connect_bandwidth,
        "resources": [
            {"resource_type": r.resource_type, "resource_id": r.resource_id, "zone_id": r.zone_id}
            for r in request.resources.order_by("position", "id")
        ],
        "tags": [{"key": t.key, "value": t.value} for t in request.tags.order_by("position", "id")],
        "justification": request.justification,
        "target_owner": request.target_owner_id,
        "plan": [
            {"action": op.action, "params": op.params}
            for op in request.operations.order_by("position")
        ],
    }


def seal_forward(apps, schema_editor):
    Event = apps.get_model("audit", "AuditEvent")
    Head = apps.get_model("audit", "ChainHead")
    Request = apps.get_model("service_requests", "ServiceRequest")
    Service = apps.get_model("endpoint_services", "EndpointService")
    Approval = apps.get_model("service_requests", "Approval")
    User = apps.get_model("auth", "User")

    _verify_legacy(
        Event.objects.filter(request__isnull=False).order_by("request_id", "seq"),
        Request.objects.values_list("pk", "audit_event_count", "audit_last_hash"),
        "request_id",
        "request",
    )
    _verify_legacy(
        Event.objects.filter(request__isnull=True).order_by("service_id", "seq"),
        Service.objects.values_list("pk", "audit_event_count", "audit_last_hash"),
        "service_id",
        "service",
    )
    names = dict(User.objects.values_list("pk", "username"))
    key_id = chain.current_key_id()
    secrets = chain.keys()
    prev, seq, batch = chain.GENESIS, 0, []

    def seal(event):
        nonlocal prev, seq
        seq += 1
        event.seq, event.key_id, event.prev_hash = seq, key_id, prev
        event.actor_name = names.get(event.actor_id, "")
        event.hash = prev = chain.seal(prev, chain.event_content(event), key_id, secrets)

    for event in Event.objects.order_by("created_at", "id").iterator(chunk_size=BATCH):
        seal(event)
        batch.append(event)
        if len(batch) >= BATCH:
            Event.objects.bulk_update(batch, ["seq", "key_id", "prev_hash", "actor_name", "hash"])
            batch = []
    Event.objects.bulk_update(batch, ["seq", "key_id", "prev_hash", "actor_name", "hash"])

    from django.utils import timezone

    now = timezone.now()
    baselines = []
    for request in Request.objects.order_by("pk").iterator(chunk_size=BATCH):
        content = _content(request)
        event = Event(
            request_id=request.pk,
            service_id=request.endpoint_service_id,
            action="baseline",
            from_state=request.state,
            to_state=request.state,
            details={
                "revision": request.revision,
                "content": content,
                "digest": content_digest(content),
                "service_id": request.service_id,
                "decisions": [
                    {
                        "approver": a.approver_id,
                        "revision": a.revision,
                        "digest": a.digest,
                        "decision": a.decision,
                        "comment": a.comment,
                    }
                    for a in Approval.objects.filter(request_id=request.pk).order_by("id")
                ],
            },
            created_at=now,
        )
        seal(event)
        baselines.append(event)
        if len(baselines) >= BATCH:
            Event.objects.bulk_create(baselines)
            baselines = []
    for service in Service.objects.order_by("pk").iterator(chunk_size=BATCH):
        event = Event(
            service_id=service.pk,
            action="baseline",
            from_state=service.status,
            to_state=service.status,
            details={
                "record": {
                    "approved": service.approved,
                    "approved_digest": content_digest(service.approved),
                    "owner": service.owner_id,
                    "managed": service.managed,
                    "service_id": service.service_id,
                    "region_id": service.region_id,
                }
            },
            created_at=now,
        )
        seal(event)
        baselines.append(event)
        if len(baselines) >= BATCH:
            Event.objects.bulk_create(baselines)
            baselines = []
    Event.objects.bulk_create(baselines)
    Head.objects.create(pk=1, seq=seq, hash=prev if seq else "")


def seal_backward(apps, schema_editor):
    Event = apps.get_model("audit", "AuditEvent")
    Head = apps.get_model("audit", "ChainHead")
    Request = apps.get_model("service_requests", "ServiceRequest")
    Service = apps.get_model("endpoint_services", "EndpointService")
    # Baselines, and events about no subject, have no place in per-subject chains.
    Event.objects.filter(action="baseline").delete()
    Event.objects.filter(request__isnull=True, service__isnull=True).delete()
    for subjects, events, field in (
        (Request, Event.objects.filter(request__isnull=False), "request_id"),
        (Service, Event.objects.filter(request__isnull=True), "service_id"),
    ):
        heads = {}
        current, prev, count, batch = None, legacy.GENESIS, 0, []
        for event in events.order_by(field, "seq").iterator(chunk_size=BATCH):
            subject = getattr(event, field)
            if subject != current:
                current, prev, count = subject, legacy.GENESIS, 0
            count += 1
            event.seq, event.prev_hash = count, prev
            event.hash = prev = legacy.chain_hash(prev, legacy.event_content(event))
            heads[subject] = (count, prev)
            batch.append(event)
            if len(batch) >= BATCH:
                Event.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
                batch = []
        Event.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
        subjects.objects.update(audit_event_count=0, audit_last_hash="")
        for pk, (count, last) in heads.items():
            subjects.objects.filter(pk=pk).update(audit_event_count=count, audit_last_hash=last)
    Head.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_service_events"),
        ("endpoint_services", "0001_initial"),
        ("service_requests", "0007_services_from_requests"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChainHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.BigIntegerField(default=0)),
                ("hash", models.CharField(blank=True, max_length=64)),
            ],
        ),
        migrations.RemoveConstraint(model_name="auditevent", name="audit_event_seq_unique"),
        migrations.RemoveConstraint(
            model_name="auditevent", name="audit_event_service_seq_unique"
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_event_service_idx"),
        migrations.AddField(
            model_name="auditevent",
            name="actor_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="chaincheck",
            name="broken_service",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="chaincheck",
            name="services_checked",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="chaincheck",
            name="broken_event",
            field=models.BigIntegerField(
                blank=True,
                help_text="The position (seq) of the first event found wrong.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent", name="seq", field=models.BigIntegerField(default=0)
        ),
        migrations.RunPython(seal_forward, seal_backward),
        migrations.AlterField(
            model_name="auditevent", name="seq", field=models.BigIntegerField(unique=True)
        ),
        migrations.AlterModelOptions(name="auditevent", options={"ordering": ["seq"]}),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["request", "seq"], name="audit_event_request_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["service", "seq"], name="audit_event_service_idx"),
        ),
    ]
