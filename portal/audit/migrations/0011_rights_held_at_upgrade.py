"""Seal every row of the tables that grant rights as it stands at the upgrade.

Before grants.py, rights were granted without a record of their own: an install from then
holds rows no event explains. Each is recorded once here (source "held at upgrade"), so that
from now on a row no event explains is one written behind the portal's back. A log that has a
right_recorded event already is left alone: this runs once.
"""

from django.db import migrations
from django.utils import timezone

from portal.audit import chain, grants

BATCH = 2000


def seal_rights(apps, schema_editor):
    Event = apps.get_model("audit", "AuditEvent")
    Head = apps.get_model("audit", "ChainHead")
    if Event.objects.filter(action=grants.RIGHT).exists():
        return
    head = Head.objects.select_for_update().filter(pk=1).first() or Head.objects.create(pk=1)
    key_id, secrets = chain.current_key_id(), chain.keys()
    prev, seq, now, batch = head.hash or chain.GENESIS, head.seq, timezone.now(), []
    for table in grants.TABLES.values():
        meta = table.model._meta
        try:
            model = apps.get_model(meta.app_label, meta.model_name)
        except LookupError:
            continue  # a table born after grants.py: its every row is recorded as written
        for row in model.objects.order_by("pk").iterator(chunk_size=BATCH):
            seq += 1
            event = Event(
                seq=seq,
                action=grants.RIGHT,
                details={
                    "table": table.name,
                    "key": str(row.pk),
                    "holder": table.holder(row),
                    "row": table.record(row),
                    "label": {},
                    "source": grants.UPGRADE,
                },
                created_at=now,
                key_id=key_id,
                prev_hash=prev,
            )
            event.hash = prev = chain.seal(prev, chain.event_content(event), key_id, secrets)
            batch.append(event)
            if len(batch) >= BATCH:
                Event.objects.bulk_create(batch)
                batch = []
    Event.objects.bulk_create(batch)
    Head.objects.filter(pk=1).update(seq=seq, hash=prev if seq else "")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0010_rights_recorded"),
        ("accounts", "0001_identities"),
        ("teams", "0001_teams"),
        ("approvals", "0001_initial"),
        ("api", "0001_access_tokens"),
    ]

    operations = [migrations.RunPython(seal_rights, migrations.RunPython.noop)]
