"""The real-worker scenarios of test_worker.py on Redis and PostgreSQL (make test-services)."""

import pytest
import redis

from portal.celery import app
from tests.provisioning.test_worker import (  # noqa: F401  (collected here under the services marker)
    pending,
    test_permanent_error_fails_the_request,
    test_simulator_down_for_a_while_then_back,
    test_stuck_in_creating_fails_at_the_deadline,
    test_throttling_and_server_errors_still_end_active_once,
    test_worker_killed_mid_create_is_resumed_by_reconcile,
    test_worker_takes_an_approved_request_to_active,
)
from tests.provisioning.test_worker_day2 import (  # noqa: F401
    test_a_worker_applies_a_change,
    test_a_worker_killed_mid_plan_is_resumed_and_applies_nothing_twice,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_redis_queue():
    """Start from an empty queue: a message left by an earlier run must not reach this one."""
    assert app.conf.broker_url.startswith("redis://"), "make test-services sets Redis"
    redis.Redis.from_url(app.conf.broker_url).flushdb()
    yield
    redis.Redis.from_url(app.conf.broker_url).flushdb()
