from django.db import migrations


class Migration(migrations.Migration):
    """The audit log is one chain now: requests keep no chain head of their own."""

    dependencies = [
        ("service_requests", "0007_services_from_requests"),
        ("audit", "0006_one_log"),
    ]

    operations = [
        migrations.RemoveField(model_name="servicerequest", name="audit_event_count"),
        migrations.RemoveField(model_name="servicerequest", name="audit_last_hash"),
    ]
