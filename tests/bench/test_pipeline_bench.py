"""The worker benchmarks' own logic: py-spy samples shared out, and outcomes checked."""

import contextlib

import pytest

from bench.pipeline import check_outcome
from bench.profile_worker import BUCKETS, OTHER, check_round, classify, parse_raw, shares, tally
from bench.report import NotMeasured

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
PORTAL = "/work/main/portal"

TASK = ("poll", f"{PORTAL}/provisioning/tasks.py")
STEP = ("service_request_poll", f"{PORTAL}/provisioning/services.py")
EXPLAINED = ("_explained", f"{PORTAL}/provisioning/services.py")
VERIFY = ("request_events_verify", f"{PORTAL}/audit/services.py")
APPEND = ("append", f"{PORTAL}/audit/chain.py")
REFRESH = ("refresh_service", f"{PORTAL}/endpoint_services/tasks.py")
NOTIFY = ("notify_requester", f"{PORTAL}/service_requests/notifications.py")
SDK_CALL = ("Client.call_api", f"{SITE}/alibabacloud_tea_openapi/client.py")
SOCKET = ("SocketIO.readinto", f"{STDLIB}/socket.py")
COMPILER = ("SQLCompiler.as_sql", f"{SITE}/django/db/models/sql/compiler.py")
QUERY = ("QuerySet.get", f"{SITE}/django/db/models/query.py")
CELERY = ("Task.apply_async", f"{SITE}/celery/app/task.py")


@contextlib.contextmanager
def not_measured(why):
    """Expect the benchmark to stop with exit status 2, saying `why`."""
    with pytest.raises(NotMeasured) as stopped:
        yield
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
