"""The benchmarks' own checks: each closes a way a published figure measured something else.

- bench/verify.py's checkpoint file ended before the log's head when the events were not a
  multiple of `--every`; with checkpoints required, verification then said the file was cut
  short (the generated events are all older than the grace period).
- bench/history.py's "failed in cn-hangzhou, page 20" does not exist under 100,000 requests:
  the admin answered 302, /audit/ an empty page, and both were timed.
- A page's check (status, the real page's marker, its rows) refuses a redirect and a login page.
"""

import io
import json

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import Client

from bench import history as history_bench
from bench import insights as insights_bench
from bench import queue_split, verify
from bench.report import NotMeasured
from portal.audit.models import AuditEvent
from portal.audit.services import audit_chain_verify
from portal.service_requests.models import ServiceRequest, State

pytestmark = pytest.mark.django_db


@pytest.fixture
def generated():
    """A small history as bench/history.py generates it: events sealed months ago."""
    call_command("generate_history", requests=60, batch=60, seed=11, stdout=io.StringIO())


@pytest.fixture
def bench_admin(generated):
    history_bench.seed_regions()
    _auditor, admin = history_bench.users()
    client = Client()
    client.force_login(admin)
    return client


def test_the_checkpoint_file_ends_at_the_head_so_verification_passes(settings, tmp_path, generated):
    settings.AUDIT_CHECKPOINTS_REQUIRED = True
    events = AuditEvent.objects.count()
    every = next(n for n in range(7, 20) if events % n)
    path = tmp_path / "checkpoints.jsonl"

    lines = verify.write_checkpoints(path, every)

    assert lines == events // every + 1
    assert json.loads(path.read_text().splitlines()[-1])["seq"] == events
    report = audit_chain_verify(checkpoint_file=path)
    verify.check_report(report, events, ServiceRequest.objects.count(), lines)
    # The file as verify.py wrote it before, ending at the last multiple of `every`: the
    # events after it are older than the grace, and verification fails.
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    report = audit_chain_verify(checkpoint_file=path)
    assert not report.ok and "cut short" in report.message, report
    with pytest.raises(NotMeasured):
        verify.check_report(report, events, ServiceRequest.objects.count(), lines - 1)


def test_the_floor_checks_every_event_and_refuses_bytes_the_portal_did_not_seal(generated):
    assert verify.floor_walk() == AuditEvent.objects.count()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET comment = %s WHERE seq = 5", ["edited"])
    with pytest.raises(NotMeasured) as refused:
        verify.floor_walk()
    assert "#5 not authentic" in refused.value.why


def test_the_deep_page_exists_on_a_small_history(bench_admin, monkeypatch):
    failed = ServiceRequest.objects.filter(state=State.FAILED, region_id="cn-hangzhou").count()
    assert 2 < failed <= 50  # one page of ours: page 20 is far past the end
    # Pages of 2 in the admin, so that it pages these as it pages the large history's.
    monkeypatch.setattr(admin.site.get_model_admin(ServiceRequest), "list_per_page", 2)
    with history_bench.site():
        page, admin_page = history_bench.deep_page()
        case = history_bench.cases()[-1]
        assert (page, admin_page) == (1, 1)
        assert case.query.endswith("page=1") and case.admin_query.endswith("p=1")
        for url in case.urls().values():
            assert bench_admin.get(url).status_code == 200, url

        assert history_bench.check_case(bench_admin, case) == (failed, 2)

        # The fixed page 20 (the admin's p=19) of before: the admin answered 302, /audit/ an
        # empty page, and both were timed; the checks now refuse them.
        before = history_bench.Case(
            "page 20",
            "page_20",
            "state=failed&region_id=cn-hangzhou&page=20",
            "state__exact=failed&region_id__exact=cn-hangzhou&p=19",
        )
        side, urls = history_bench.sides(), before.urls()
        assert history_bench.rows_of(bench_admin.get(urls["ours"]), side["ours"], "") == []
        with pytest.raises(NotMeasured) as refused:
            history_bench.rows_of(bench_admin.get(urls["admin"]), side["admin"], urls["admin"])
        assert "answered 302" in refused.value.why
        with pytest.raises(NotMeasured) as refused:
            history_bench.check_case(bench_admin, before)
        assert "page 20 holds no row" in refused.value.why


def test_every_side_renders_the_rows_it_is_timed_with(bench_admin):
    with history_bench.site():
        side = history_bench.sides()
        url = "/audit/?state=failed"
        ours = history_bench.rows_of(bench_admin.get(url), side["ours"], url)
        plain = history_bench.rows_of(bench_admin.get("/plain/?state=failed"), side["plain"], "")
        url = f"{history_bench.CHANGELIST}?state__exact=failed"
        theirs = history_bench.rows_of(bench_admin.get(url), side["admin"], url)
    failed = ServiceRequest.objects.filter(state=State.FAILED)
    assert ours == plain == list(failed.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert sorted(theirs) == sorted(ours)


@pytest.mark.parametrize("follow", [False, True], ids=["redirect", "login page"])
def test_a_page_check_refuses_a_redirect_and_a_login_page(generated, follow):
    anonymous = Client()
    with history_bench.site():
        side = history_bench.sides()
        for url, check in [
            ("/audit/", lambda r, u: history_bench.rows_of(r, side["ours"], u)),
            (
                history_bench.CHANGELIST,
                lambda r, u: history_bench.rows_of(r, side["admin"], u),
            ),
            (
                "/approvals/",
                lambda r, u: queue_split.rows_of(
                    r, queue_split.Page(u, u, b'<section id="waiting-for-you">', b"</section>")
                ),
            ),
            ("/insights/", lambda r, u: insights_bench.insights_shown(r, None, 12)),
        ]:
            response = anonymous.get(url, follow=follow)
            assert response.status_code == (200 if follow else 302), url
            with pytest.raises(NotMeasured) as refused:
                check(response, url)
            assert ("not the page timed" if follow else "answered 302") in refused.value.why
