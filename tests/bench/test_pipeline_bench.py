"""The worker benchmarks' own logic: py-spy samples shared out, outcomes and workers' logs
checked, the box's CPU read."""

import contextlib
import os

import pytest
from django.core.mail import send_mail

from bench.pipeline import (
    box_busy_seconds,
    box_cpu_seconds,
    check_outcome,
    check_portal_handed_on,
    check_worker_logs,
    notices_sent,
)
from bench.profile_worker import BUCKETS, OTHER, check_round, classify, parse_raw, shares, tally
from bench.report import NotMeasured
from bench.support import Outbox
from portal.approvals.notifications import SUBJECT

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
PORTAL = "/work/main/portal"

TASK = ("poll", f"{PORTAL}/provisioning/tasks.py")
STEP = ("service_request_poll", f"{PORTAL}/provisioning/services.py")
EXPLAINED = ("_explained", f"{PORTAL}/provisioning/services.py")
VERIFY = ("request_events_verify", f"{PORTAL}/service_requests/integrity.py")
APPEND = ("append", f"{PORTAL}/audit/chain.py")
REFRESH = ("refresh_service", f"{PORTAL}/endpoint_services/tasks.py")
NOTIFY = ("notify_requester", f"{PORTAL}/approvals/notifications.py")
SDK_CALL = ("Client.call_api", f"{SITE}/alibabacloud_tea_openapi/client.py")
SOCKET = ("SocketIO.readinto", f"{STDLIB}/socket.py")
COMPILER = ("SQLCompiler.as_sql", f"{SITE}/django/db/models/sql/compiler.py")
QUERY = ("QuerySet.get", f"{SITE}/django/db/models/query.py")
CELERY = ("Task.apply_async", f"{SITE}/celery/app/task.py")


@contextlib.contextmanager
def not_measured(why):
    """Expect the benchmark to stop with exit status 2, saying `why`."""
    with pytest.raises(NotMeasured) as stopped:
        yield stopped
    assert why in stopped.value.why
    assert stopped.value.code == 2


STACKS = [
    ([TASK, STEP, SDK_CALL, SOCKET], "sdk"),
    ([TASK, STEP, EXPLAINED, VERIFY, QUERY, COMPILER], "audit_check"),
    ([TASK, STEP, APPEND, QUERY, COMPILER], "chained_events"),
    ([REFRESH, QUERY], "first_reading"),
    # The first reading's calls are SDK calls, whatever calls them.
    (
        [REFRESH, ("endpoint_service_read", f"{PORTAL}/endpoint_services/services.py"), SDK_CALL],
        "sdk",
    ),
    ([NOTIFY, QUERY], "notices"),
    ([TASK, STEP, QUERY, COMPILER], "orm"),
    ([TASK, STEP, CELERY], OTHER),
]


@pytest.mark.parametrize(("frames", "bucket"), STACKS)
def test_a_sample_goes_to_the_first_rule_that_matches_any_frame(frames, bucket):
    assert classify(frames) == bucket


def test_every_sample_is_counted_in_exactly_one_bucket_and_shares_sum_to_100():
    samples = [(frames, n + 1) for n, (frames, _bucket) in enumerate(STACKS)]
    buckets, on_compiler = tally(samples)
    assert set(buckets) == set(BUCKETS)
    assert sum(buckets.values()) == sum(count for _frames, count in samples)
    assert buckets["sdk"] == 1 + 5
    assert sum(shares(buckets).values()) == pytest.approx(100)
    # The SQL compiler is counted apart, overlapping the buckets: in 3 stacks of 3 buckets.
    assert on_compiler == 2 + 3 + 7


def test_a_recording_without_samples_is_not_measured():
    with not_measured("no sample"):
        shares(dict.fromkeys(BUCKETS, 0))


def test_py_spy_raw_lines_are_read_root_first():
    text = (
        f"<module> (/work/main/bench/profile_worker.py:12);append ({PORTAL}/audit/chain.py:130) 7\n"
        "<native> 2\n"
        "\n"
    )
    assert parse_raw(text) == [
        ([("<module>", "/work/main/bench/profile_worker.py"), APPEND], 7),
        ([("<native>", "")], 2),
    ]
    assert classify(parse_raw(text)[0][0]) == "chained_events"


def test_a_batch_with_every_request_active_and_one_service_each_passes():
    check_outcome("portal", 3, {"active": 3}, 3, ["s-1", "s-2", "s-3"], ["s-1", "s-2", "s-3"])


@pytest.mark.parametrize(
    ("states", "added", "named", "active", "why"),
    [
        ({"active": 2, "creating": 1}, 3, ["s-1", "s-2", ""], ["s-1", "s-2"], "creating"),
        ({"active": 3}, 4, ["s-1", "s-2", "s-3"], ["s-1", "s-2", "s-3", "s-4"], "duplicates"),
        ({"active": 3}, 2, ["s-1", "s-2", "s-2"], ["s-1", "s-2"], "missing"),
        ({"active": 3}, 3, ["s-1", "s-2", ""], ["s-1", "s-2", "s-3"], "2 distinct"),
        ({"active": 3}, 3, ["s-1", "s-2", "s-9"], ["s-1", "s-2", "s-3"], "not Active"),
    ],
)
def test_a_batch_that_did_not_do_its_work_is_not_measured(states, added, named, active, why):
    with not_measured(why):
        check_outcome("floor", 3, states, added, named, active)


def test_a_profiled_round_that_handed_on_no_first_reading_is_not_measured():
    check_round({"active": 2}, 2, {"refresh_service": 2, "notify_requester": 2}, 5, 5)
    with not_measured("1 refresh_service"):
        check_round({"active": 2}, 2, {"refresh_service": 1, "notify_requester": 2}, 5, 5)
    with not_measured("6 services"):
        check_round({"active": 2}, 2, {"refresh_service": 2, "notify_requester": 2}, 6, 5)


def test_a_portal_request_without_its_first_reading_stops_the_run():
    check_portal_handed_on([1, 2, 3], read=[3, 2, 1, 9], told={1, 2, 3})
    with not_measured("3 requests handed on 2 refresh_service; not #2"):
        check_portal_handed_on([1, 2, 3], read=[1, 3], told={1, 2, 3})


def test_a_portal_request_whose_requester_was_not_told_stops_the_run():
    with not_measured("3 requests handed on 1 notify_requester; not #1, #3"):
        check_portal_handed_on([1, 2, 3], read=[1, 2, 3], told={2, 4})


def test_the_notices_that_a_request_is_active_are_read_from_the_outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OUTBOX", str(tmp_path))
    for subject in (f"{SUBJECT} Request #7 active", f"{SUBJECT} Request #8 approved"):
        send_mail(subject, "body", None, ["someone@example.com"], connection=Outbox())
    with Outbox() as outbox:  # several messages over one connection land in one file
        for pk in (11, 12):
            send_mail(f"{SUBJECT} Request #{pk} active", "", None, ["a@x"], connection=outbox)
    assert notices_sent(tmp_path) == {7, 11, 12}


CELERY_WARNING = (
    "[2026-12-07 14:18:02,123: WARNING/MainProcess] No hostname was supplied. Reverting to "
    "default 'localhost'"
)
TASK_FAILED = [
    "[2026-12-07 14:18:09,001: ERROR/MainProcess] Task portal.endpoint_services.tasks."
    "refresh_service[5f0c] raised unexpected: KeyError('ServiceId')",
    "Traceback (most recent call last):",
    *[f'  File "/work/main/portal/x{n}.py", line {n}, in f{n}' for n in range(20)],
    "KeyError: 'ServiceId'",
    "[2026-12-07 14:18:10,000: WARNING/MainProcess] later",
]


def write_logs(tmp_path, *texts):
    paths = []
    for n, lines in enumerate(texts):
        path = tmp_path / f"worker{n}.log"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def test_worker_logs_with_warnings_only_pass(tmp_path):
    check_worker_logs(write_logs(tmp_path, [CELERY_WARNING], []))


def test_a_task_that_failed_in_a_worker_stops_the_run_quoting_its_error(tmp_path):
    paths = write_logs(tmp_path, [CELERY_WARNING], [CELERY_WARNING, *TASK_FAILED])
    with not_measured("worker1.log says:") as stopped:
        check_worker_logs(paths)
    why = stopped.value.why
    assert "raised unexpected: KeyError('ServiceId')" in why
    assert why.endswith("KeyError: 'ServiceId'")  # the record ends where the next begins
    assert "later" not in why
    assert len(why.splitlines()) == 1 + 12  # a long traceback is cut in the middle


def test_a_bare_traceback_in_a_worker_log_stops_the_run(tmp_path):
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1', "OSError: boom"]
    with not_measured("OSError: boom"):
        check_worker_logs(write_logs(tmp_path, lines))


@pytest.mark.parametrize(
    "line",
    [
        "[2026-12-07 14:18:09,001: ERROR/MainProcess] could not enqueue x: broker unreachable",
        "[2026-12-07 14:18:09,001: CRITICAL/MainProcess] Unrecoverable error",
    ],
)
def test_an_error_line_in_a_worker_log_stops_the_run(tmp_path, line):
    with not_measured(line):
        check_worker_logs(write_logs(tmp_path, [CELERY_WARNING, line]))


PROC_STAT = """\
cpu  100 10 50 1000 40 5 3 2 7 0
cpu0 60 5 30 500 20 3 2 1 7 0
cpu1 40 5 20 500 20 2 1 1 0 0
intr 123 0 0
ctxt 4567
"""


def test_the_box_is_busy_for_its_user_nice_system_irq_softirq_and_steal_jiffies():
    # Not idle nor iowait; guest time (7) is inside user already.
    assert box_busy_seconds(PROC_STAT) == (100 + 10 + 50 + 5 + 3 + 2) / os.sysconf("SC_CLK_TCK")


def test_a_proc_stat_without_the_line_for_all_cores_is_not_measured():
    with not_measured("no line for all the box's cores"):
        box_busy_seconds(PROC_STAT.split("\n", 1)[1])


def test_the_box_cpu_is_read_from_proc_stat_and_only_grows():
    first = box_cpu_seconds()
    assert 0 < first <= box_cpu_seconds()
