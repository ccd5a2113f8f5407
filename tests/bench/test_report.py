"""A benchmark records its figures only when it measured them, with the commit it measured."""

import json

import pytest

from bench import report
from bench.report import NOT_MEASURED, NotMeasured, Run, expect


@pytest.fixture
def results(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv("BENCH_RESULTS", str(path))
    monkeypatch.setenv("BENCH_RUN", "poll")
    monkeypatch.setattr(report, "commit", lambda: "abc123")
    return path


def test_a_run_records_its_figures_as_ranges_with_its_load_and_commit(results):
    with Run("bench/poll.py", []) as run:
        run.note(database="sqlite")
        run.figure("poll.worst", [0.8, 0.9, 0.7], aim=(">=", 0.8))

    record = json.loads(results.read_text())
    assert record["run"] == "poll" and record["commit"] == "abc123"
    assert record["notes"] == {"database": "sqlite"}
    assert record["load"]["min"] <= record["load"]["max"]
    (figure,) = record["figures"]
    assert (figure["median"], figure["min"], figure["max"]) == (0.8, 0.7, 0.9)
    assert figure["met"] is True


def test_a_run_that_did_not_measure_what_it_claims_records_nothing(results):
    with pytest.raises(NotMeasured) as stopped, Run("bench/poll.py", []) as run:
        run.figure("poll.worst", [0.8])
        expect(False, "the poll answered a 302 to the login page")

    assert stopped.value.code == NOT_MEASURED
    assert not results.exists()


def test_a_tree_changed_during_the_run_records_nothing(results, monkeypatch):
    changed = pytest.raises(NotMeasured, match="the tree changed during the run")
    with changed, Run("bench/poll.py", []) as run:
        run.figure("poll.worst", [0.8])
        monkeypatch.setattr(report, "commit", lambda: "abc123+dirty")

    assert not results.exists()


def test_a_figure_without_rounds_is_not_a_figure(results):
    with pytest.raises(NotMeasured, match="no rounds"), Run("bench/poll.py", []) as run:
        run.figure("poll.worst", [])
