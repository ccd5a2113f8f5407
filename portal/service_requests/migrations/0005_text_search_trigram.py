"""Trigram indexes for the auditors' text search, on PostgreSQL only.

`icontains` compiles to UPPER(col::text) LIKE UPPER('%term%'), which no B-tree index serves;
GIN trigram indexes on the same expressions do. pg_trgm is a trusted extension since
PostgreSQL 13, so the database owner may create it; where it cannot be created, the search
still works, without the index.
"""

import logging

from django.db import migrations

log = logging.getLogger(__name__)
INDEXES = {
    "request_description_trgm": "service_description",
    "request_justification_trgm": "justification",
}


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT trigram")
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as error:  # a managed database may refuse extensions
            cursor.execute("ROLLBACK TO SAVEPOINT trigram")
            log.warning("pg_trgm unavailable, text search stays unindexed: %s", error)
            return
        for name, column in INDEXES.items():
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON service_requests_servicerequest "
                f"USING gin (UPPER(({column})::text) gin_trgm_ops)"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("service_requests", "0004_history_indexes")]

    operations = [migrations.RunPython(create, drop)]
