"""The production back-ends answer: PostgreSQL through DATABASE_URL, Redis as the broker.

Run by `make test-services`; they fail, never skip, when a service is missing.
"""

import pytest
from django.db import connection

from portal.celery import app

pytestmark = pytest.mark.services


@pytest.mark.django_db
def test_database_is_postgresql_and_migrated(client):
    assert connection.vendor == "postgresql"
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_broker_is_redis_and_answers():
    assert app.conf.broker_url.startswith("redis://")
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected
