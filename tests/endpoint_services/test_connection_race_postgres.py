"""Two keepers accept one connection at the same instant, on PostgreSQL: one cloud call.

Run by `make test-services` (real PostgreSQL, one connection per thread).
"""

import threading

import pytest
from django.db import connection as db

from portal.cloud import services as cloud
from portal.endpoint_services import connections
from tests.endpoint_services.test_consumers import waiting_connection

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client_for(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def test_database_is_postgresql():
    assert db.vendor == "postgresql"


def test_a_connection_accepted_twice_at_once_makes_one_call(
    client_for, service, requester, requester2, approver, simulator, monkeypatch
):
    connection = waiting_connection(client_for, service, requester, requester2, simulator)
    calls = []
    real = cloud.endpoint_connection_decide
    arrived = threading.Barrier(2)

    def counted(**kwargs):
        calls.append(kwargs["endpoint_id"])
        return real(**kwargs)

    monkeypatch.setattr(cloud, "endpoint_connection_decide", counted)
    outcomes = []

    def accept(user):
        arrived.wait()
        try:
            connections.connection_decide(
                service=service, endpoint_id=connection.endpoint_id, actor=user, accept=True
            )
            outcomes.append("accepted")
        except connections.ConnectionRefused as error:
            outcomes.append(str(error))
        finally:
            db.close()

    threads = [threading.Thread(target=accept, args=(u,)) for u in (requester, approver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [connection.endpoint_id]
    assert outcomes.count("accepted") == 1
    (refusal,) = [outcome for outcome in outcomes if outcome != "accepted"]
    assert "being accepted already" in refusal
    assert service.events.filter(action="connection_accepted").count() == 1
