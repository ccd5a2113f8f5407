"""What the docs publish is what bench/published.json holds, and each figure there says where
it came from; bench/check.py's verdict is the published range, widened by the tolerance."""

import json
import re

import pytest

from bench import check


@pytest.fixture
def published():
    return check.registry()


def test_the_docs_tables_are_rendered_from_the_published_figures():
    assert check.docs(write=False) == [], "run: .venv/bin/python bench/check.py --docs"


def test_every_published_figure_names_its_run_script_date_commit_and_load(published):
    for claim in published["figures"]:
        run = published["runs"][claim["run"]]
        assert (check.ROOT / run["script"]).exists(), claim["figure"]
        assert claim["figure"].split(".")[0] == run["script"].split("/")[-1][:-3], claim
        if "published" in claim:
            assert claim["date"] and claim["commit"], claim["figure"]
            low, high = claim["load"]
            assert 0 <= low <= high, claim["figure"]
            values = claim["published"]
            assert values["min"] <= values["median"] <= values["max"], claim["figure"]


def test_every_figure_is_shown_in_the_docs_and_every_table_has_figures(published):
    names = set()
    for path in check.DOCS:
        names |= {m.group("name") for m in check.BLOCK.finditer(path.read_text())}
    shown = {block for claim in published["figures"] for block in claim.get("blocks", [])}
    assert names == shown
    assert all(claim.get("blocks") for claim in published["figures"])


def test_every_figure_is_named_as_its_script_records_it(published):
    """Each figure's name matches a name its script (or a bench module it imports) records,
    f-string fields standing for any word: a renamed figure would otherwise be found 'not
    measured' only at the end of a two-hour run."""
    for claim in published["figures"]:
        script = check.ROOT / published["runs"][claim["run"]]["script"]
        source = script.read_text()
        for module in re.findall(r"^from bench\.(\w+) import", source, re.M):
            source += (script.parent / f"{module}.py").read_text()
        stem = claim["figure"].split(".")[0]
        names = re.findall(rf"[\"']({stem}\.[^\"']+)[\"']", source)
        patterns = [re.sub(r"\\{[^}]*\\}", r"[\\w-]+", re.escape(name)) for name in names]
        assert any(re.fullmatch(pattern, claim["figure"]) for pattern in patterns), claim


def test_a_figure_is_reproduced_within_its_range_or_its_tolerance_around_the_median():
    claim = {"published": {"median": 1.0, "min": 0.95, "max": 1.3}, "tolerance": 0.1}

    assert check.reproduced(claim, {"median": 1.3})  # the published range
    assert check.reproduced(claim, {"median": 0.9})  # the median less its tolerance
    assert not check.reproduced(claim, {"median": 1.35})
    assert not check.reproduced(claim, {"median": 0.85})


def test_a_figure_that_crosses_its_aim_is_not_a_reproduction():
    claim = {
        "published": {"median": 0.82, "min": 0.78, "max": 0.86},
        "aim": [">=", 0.8],
        "tolerance": 0.2,
    }

    assert check.reproduced(claim, {"median": 0.81})
    assert not check.reproduced(claim, {"median": 0.79})


def test_shares_are_compared_in_points_not_in_fractions_of_themselves():
    claim = {"published": {"median": 3.0, "min": 2.5, "max": 3.5}, "tolerance_abs": 3.0}

    assert check.reproduced(claim, {"median": 5.9})
    assert not check.reproduced(claim, {"median": 6.5})


def test_a_figure_not_measured_or_not_reproduced_fails_the_check(tmp_path, capsys):
    claims = [
        {
            "figure": "poll.worst",
            "run": "poll",
            "published": {"median": 0.8, "min": 0.75, "max": 0.85},
        },
        {
            "figure": "poll.median",
            "run": "poll",
            "published": {"median": 0.9, "min": 0.9, "max": 0.9},
        },
        {
            "figure": "simulator.ratio",
            "run": "simulator",
            "published": {"median": 1, "min": 1, "max": 1},
        },
    ]
    results = tmp_path / "results.jsonl"
    record = {
        "run": "poll",
        "load": {"min": 0.5, "max": 1.5},
        "figures": [
            {"figure": "poll.worst", "median": 0.8, "min": 0.7, "max": 0.9},
            {"figure": "poll.median", "median": 0.5, "min": 0.4, "max": 0.6},
        ],
    }
    results.write_text(json.dumps(record) + "\n")

    missed = check.compare(claims, check.results_of(results), stopped={"simulator": 2})

    assert missed == 2
    out = capsys.readouterr().out
    assert "poll.median" in out and "NOT REPRODUCED" in out
    assert "NOT MEASURED: the benchmark measured something else" in out


def test_a_figure_measured_on_another_stack_is_not_compared(tmp_path, capsys):
    claim = {
        "figure": "pipeline.cpu_ms.portal",
        "run": "pipeline-postgresql",
        "published": {"median": 90, "min": 85, "max": 95},
        "measured_on": {"database": "postgresql"},
    }
    results = tmp_path / "results.jsonl"
    record = {
        "run": "pipeline-postgresql",
        "load": {"min": 0.5, "max": 1.5},
        "notes": {"database": "sqlite"},
        "figures": [{"figure": "pipeline.cpu_ms.portal", "median": 90, "min": 88, "max": 92}],
    }
    results.write_text(json.dumps(record) + "\n")

    assert check.compare([claim], check.results_of(results), stopped={}) == 1
    assert "NOT COMPARABLE (database postgresql -> sqlite)" in capsys.readouterr().out


def test_the_portals_settings_in_the_callers_environment_do_not_reach_a_run(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://elsewhere/db")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://elsewhere")
    run = {"env": {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/12"}}

    env = check.environment(run, "results.jsonl", "pipeline-postgresql")

    assert "DATABASE_URL" not in env
    assert env["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/12"
    assert env["BENCH_RUN"] == "pipeline-postgresql"


def test_recording_refuses_figures_of_a_tree_that_was_not_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(check, "REGISTRY", tmp_path / "published.json")
    claim = {"figure": "poll.worst", "run": "poll", "label": "", "blocks": ["poll"]}
    check.REGISTRY.write_text(json.dumps({"runs": {}, "figures": [claim]}))
    results = tmp_path / "results.jsonl"
    record = {
        "run": "poll",
        "commit": "abc123+dirty",
        "date": "2026-12-07",
        "load": {"min": 0.5, "max": 1.5},
        "notes": {},
        "figures": [
            {
                "figure": "poll.worst",
                "unit": "x",
                "median": 0.8,
                "min": 0.7,
                "max": 0.9,
                "rounds": 3,
            }
        ],
    }
    results.write_text(json.dumps(record) + "\n")

    with pytest.raises(SystemExit, match="commit first"):
        check.record(results)

    record["commit"] = "abc123"
    results.write_text(json.dumps(record) + "\n")
    check.record(results)
    published = json.loads(check.REGISTRY.read_text())["figures"][0]
    assert published["published"]["median"] == 0.8 and published["commit"] == "abc123"
