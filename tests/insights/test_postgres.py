"""The insights' figures again on PostgreSQL, where the percentiles are percentile_cont."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _on_postgresql():
    assert connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database"


def test_percentiles_are_the_databases_own(login, approver, settings):
    settings.INSIGHTS_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as queries:
        assert login(approver).get("/insights/").status_code == 200
    lead_times = [q["sql"] for q in queries.captured_queries if "percentile_cont" in q["sql"]]
    assert len(lead_times) == 1
    assert "WITHIN GROUP (ORDER BY" in lead_times[0]


# The same figures, worked out by hand, from the same history.
from tests.insights.test_figures import (  # noqa: E402, F401
    history,
    test_each_figure_of_a_known_history,
    test_percentiles_are_percentile_cont_for_any_week,
    test_queries_do_not_grow_with_requests,
    test_the_tables_say_what_the_charts_draw,
    test_weeks_are_the_portals_time_zones,
    test_weeks_without_requests_are_zero_rows,
)
