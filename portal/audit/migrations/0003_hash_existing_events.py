"""Give the events recorded before the chain existed their place in it."""

from django.db import migrations

from portal.audit.legacy import GENESIS, chain_hash, event_content


def hash_existing_events(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    ServiceRequest = apps.get_model("service_requests", "ServiceRequest")
    for request in ServiceRequest.objects.order_by("pk").iterator(chunk_size=500):
        prev, seq = GENESIS, 0
        for event in AuditEvent.objects.filter(request=request).order_by("created_at", "id"):
            seq += 1
            event.seq = seq
            digest = chain_hash(prev, event_content(event))
            AuditEvent.objects.filter(pk=event.pk).update(seq=seq, prev_hash=prev, hash=digest)
            prev = digest
        ServiceRequest.objects.filter(pk=request.pk).update(
            audit_event_count=seq, audit_last_hash=prev if seq else ""
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_hash_chain"),
        ("service_requests", "0003_audit_chain_head"),
    ]

    operations = [migrations.RunPython(hash_existing_events, migrations.RunPython.noop)]
