"""The benchmarks' own checks: each closes a way a published figure measured something else.

- bench/verify.py's checkpoint file ended before the log's head when the events were not a
  multiple of `--every`; with checkpoints required, verification then said the file was cut
  short (the generated events are all older than the grace period).
- bench/history.py's "failed in cn-hangzhou, page 20" does not exist under 100,000 requests:
  the admin answered 302, /audit/ an empty page, and both were timed.
- A page's check (status, the real page's marker, its rows) refuses a redirect and a login page.
- The timed answers were checked only for their status and a marker: a page that changed
  between its check and its timing was timed as the page checked.
- bench/history.py's admin side of "service id" searched (q=, substring matches over other
  columns too) where /audit/ filters exactly.
- The memory figures were one process's single value, published as if a range of rounds.
- bench/queue_split.py relied on a fresh database; given a copy, it now signs in with sessions
  of its own and leaves none behind.
"""

import argparse
import io
import json

import pytest
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory

from bench import history as history_bench
from bench import insights as insights_bench
from bench import queue_split, support, verify
from bench.report import NotMeasured, Run
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

        assert history_bench.check_case(bench_admin, case)[:2] == (failed, 2)

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


def test_a_timed_answer_other_than_the_one_checked_stops_the_run(bench_admin):
    case = history_bench.Case("state=failed", "state_failed", "state=failed", "state__exact=failed")
    with history_bench.site():
        _rows, _admin_rows, expected = history_bench.check_case(bench_admin, case)
        _ours, _theirs, ratios = history_bench.compare(
            bench_admin, case.urls(), expected, "admin", rounds=2, count=2
        )
        assert len(ratios) == 2

        # A row more since the check: the same status and marker, other bytes.
        ServiceRequest.objects.create(
            requester=ServiceRequest.objects.first().requester,
            region_id="cn-hangzhou",
            state=State.FAILED,
        )
        with pytest.raises(NotMeasured) as refused:
            history_bench.compare(bench_admin, case.urls(), expected, "plain", rounds=2, count=2)
    assert refused.value.why.startswith("/audit/?state=failed: 4 of 4 timed answers were not")


def test_a_timed_answer_near_the_one_checked_passes_only_with_its_status_and_marker():
    expected = (200, 30_000, True)
    support.check_timed_near([(200, 30_000, True), (200, 29_990, True)], expected, 16, "page")
    for wrong in [(200, 30_017, True), (200, 30_000, False), (302, 30_000, True)]:
        with pytest.raises(NotMeasured) as refused:
            support.check_timed_near([expected, wrong], expected, 16, "page")
        assert "1 of 2 timed answers were not 200" in refused.value.why
    with pytest.raises(NotMeasured):
        support.check_timed_near([], expected, 16, "page")


def test_the_admin_filters_the_service_id_exactly_as_ours_does(bench_admin):
    _auditor, admin_user = history_bench.users()
    case = next(case for case in history_bench.cases() if case.slug == "service_id")
    service_id = case.admin_query.removeprefix("service_id__exact=")
    assert case.query == f"service={service_id}"
    model_admin = admin.site.get_model_admin(ServiceRequest)
    request = RequestFactory().get(history_bench.CHANGELIST)
    request.user = admin_user
    assert model_admin.lookup_allowed("service_id__exact", service_id, request)
    with history_bench.site():
        history_bench.check_case(bench_admin, case)
        side, urls = history_bench.sides(), case.urls()
        ours = history_bench.rows_of(bench_admin.get(urls["ours"]), side["ours"], "")
        theirs = history_bench.rows_of(bench_admin.get(urls["admin"]), side["admin"], "")
    found = ServiceRequest.objects.filter(service_id=service_id).values_list("pk", flat=True)
    assert sorted(ours) == sorted(theirs) == sorted(found)


def test_the_history_runs_production_like_with_the_key_it_was_sealed_with(monkeypatch):
    calls = []
    monkeypatch.setattr(history_bench, "configure", lambda *a, **kw: calls.append((a, kw)))
    history_bench.setup("sqlite:///var/small-anything.sqlite3", 0, prepare=False)
    key = "dev:insecure-development-audit-key-never-used-in-production"
    assert calls == [(("sqlite:///var/small-anything.sqlite3",), {"AUDIT_HMAC_KEYS": key})]
    # The names other benchmarks import from bench/history.py.
    assert history_bench.STORAGES is support.STORAGES
    for name in ("setup", "users", "seed_regions", "peak_rss_kb"):
        assert callable(getattr(history_bench, name))


def test_the_export_memory_is_a_round_per_fresh_process(monkeypatch):
    asked = []

    def child(args, rounds):
        asked.append(rounds)
        n = len(asked)
        return {
            "rows": 100,
            "ours_s": [1.0] * rounds,
            "floor_s": [0.8] * rounds,
            "throughput_ratios": [0.8] * rounds,
            "rss_growth_mb": 10.0 + n,
            "python_peak_mb": 1.0 + n,
        }

    monkeypatch.setattr(history_bench, "export_in_fresh_process", child)
    run = Run("bench/history.py", [])
    args = argparse.Namespace(memory_rounds=3, export_rounds=5, database_url="")
    history_bench.export(run, args)
    assert asked == [5, 0, 0]  # the first process also times the export
    values = {figure["figure"].split(".", 2)[-1]: figure["values"] for figure in run.figures}
    assert values == {
        "export_throughput_ratio": [0.8] * 5,
        "export_rss_mb": [11.0, 12.0, 13.0],
        "export_python_peak_mb": [2.0, 3.0, 4.0],
    }


@pytest.mark.parametrize("tracemalloc", [True, False])
def test_the_verification_memory_is_a_round_per_fresh_process(monkeypatch, tracemalloc):
    found = iter([1024, 2048, 3072])
    monkeypatch.setattr(
        verify,
        "memory_in_fresh_process",
        lambda args, counts: {"growth_kb": next(found), "python_peak": 2**20},
    )
    run = Run("bench/verify.py", [])
    args = argparse.Namespace(memory_rounds=3, no_tracemalloc=not tracemalloc)
    verify.memory(run, args, (10, 2, 1))
    values = {figure["figure"]: figure["values"] for figure in run.figures}
    expected = {"verify.rss_growth_mb": [1.0, 2.0, 3.0]}
    if tracemalloc:
        expected["verify.python_peak_mb"] = [1.0, 1.0, 1.0]
    assert values == expected


def test_the_queue_is_timed_with_sessions_of_its_own_and_leaves_none(generated):
    history_bench.seed_regions()
    auditor, admin_user = history_bench.users()
    earlier = Client()
    earlier.force_login(auditor)  # what an earlier run left in the copy
    left = set(Session.objects.values_list("session_key", flat=True))

    with queue_split.signed_in(auditor, admin_user) as clients:
        keys = {client.session.session_key for client in clients}
        assert len(keys) == 2 and not keys & left
        assert clients[0].get("/audit/").status_code == 200
        assert queue_split.queries_of(clients[1], "/audit/") > 0
    assert set(Session.objects.values_list("session_key", flat=True)) == left

    with pytest.raises(NotMeasured), queue_split.signed_in(auditor):
        queue_split.rows_of(Client().get("/approvals/"), queue_split.Page("q", "q", b"x", b"y"))
    assert set(Session.objects.values_list("session_key", flat=True)) == left
