"""The history's PostgreSQL-only paths: the count estimate and the trigram text search."""

import pytest
from django.db import connection

from portal.audit import views as audit_views
from tests.factories import ServiceRequestFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_large_counts_show_the_planners_estimate(login, auditor, requester, monkeypatch):
    monkeypatch.setattr(audit_views, "COUNT_LIMIT", 2)
    ServiceRequestFactory.create_batch(5, requester=requester)
    response = login(auditor).get("/audit/")
    assert response.context["estimate"] >= 3
    assert "About" in response.content.decode()


def test_text_search_has_trigram_indexes(login, auditor, requester):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'request_%_trgm' "
            "ORDER BY indexname"
        )
        names = [row[0] for row in cursor.fetchall()]
    assert names == ["request_description_trgm", "request_justification_trgm"]
    match = ServiceRequestFactory(requester=requester, justification="for the Ledger team")
    ServiceRequestFactory(requester=requester, justification="other")
    response = login(auditor).get("/audit/", {"q": "ledger"})
    assert [row.pk for row in response.context["rows"]] == [match.pk]
