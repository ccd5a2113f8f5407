"""The audit log names its subjects by id, with no foreign key into the apps that keep them.

The columns stay as they are (request_id, service_id, their indexes and every value): only the
constraints go, then Django's state learns that the fields are plain integers. Nothing is
rewritten, so every sealed event verifies as before.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_action_choices"),
        ("endpoint_services", "0001_initial"),
        ("service_requests", "0001_initial"),
    ]

    operations = [
        # Drop the constraints (on PostgreSQL; SQLite rebuilds the table without them).
        migrations.AlterField(
            model_name="auditevent",
            name="request",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="events",
                to="service_requests.servicerequest",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="service",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The endpoint service the event concerns, when there is one.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="events",
                to="endpoint_services.endpointservice",
            ),
        ),
        # The same columns and indexes, as plain integers in Django's state.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_event_request_idx"),
                migrations.RemoveIndex(model_name="auditevent", name="audit_event_service_idx"),
                migrations.RemoveField(model_name="auditevent", name="request"),
                migrations.RemoveField(model_name="auditevent", name="service"),
                migrations.AddField(
                    model_name="auditevent",
                    name="request_id",
                    field=models.BigIntegerField(
                        blank=True,
                        db_index=True,
                        help_text="The request the event is about, if any.",
                        null=True,
                    ),
                ),
                migrations.AddField(
                    model_name="auditevent",
                    name="service_id",
                    field=models.BigIntegerField(
                        blank=True,
                        db_index=True,
                        help_text="The endpoint service the event concerns, when there is one.",
                        null=True,
                    ),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["request_id", "seq"], name="audit_event_request_idx"),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["service_id", "seq"], name="audit_event_service_idx"),
                ),
            ],
            database_operations=[],
        ),
    ]
