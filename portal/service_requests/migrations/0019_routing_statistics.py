"""PostgreSQL: statistics of how state, decided_by and deciding_team go together.

A team's queue filters on all three (pending, routed to the team's approvers or members, of
this team). Without these statistics the planner multiplies their selectivities, expects one
row where there are hundreds, and joins the approvals in a nested loop: 7.5 ms for a page of a
team's 400 pending requests, 1.4 ms with them (hash anti-join). Other databases: nothing.
"""

from django.db import migrations

NAME = "request_routing_stats"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(
        apps.get_model("service_requests", "ServiceRequest")._meta.db_table
    )
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} (dependencies, mcv) "
        f"ON state, decided_by, deciding_team_id FROM {table}"
    )
    schema_editor.execute(f"ANALYZE {table}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("service_requests", "0018_pending_index_routing")]

    operations = [migrations.RunPython(create, drop)]
