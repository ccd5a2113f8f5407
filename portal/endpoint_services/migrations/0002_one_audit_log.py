from django.db import migrations


class Migration(migrations.Migration):
    """The audit log is one chain now: services keep no chain head of their own."""

    dependencies = [
        ("endpoint_services", "0001_initial"),
        ("audit", "0006_one_log"),
    ]

    operations = [
        migrations.RemoveField(model_name="endpointservice", name="audit_event_count"),
        migrations.RemoveField(model_name="endpointservice", name="audit_last_hash"),
    ]
