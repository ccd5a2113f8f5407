"""Rerun every published figure and compare it with what is published (`make bench-check`).

Every figure the README and docs/performance.md publish is a row of bench/published.json: the
benchmark run that measures it (script, arguments, environment), and what was published: its
median and range over the run's rounds, the date, the commit and the box's load. This script
runs each benchmark once (every figure it prints lands in one results file, through
bench/report.py), then says for each published figure whether this run reproduced it: its
median within the published range, widened by the figure's tolerance (default 20%: two runs on
a shared 2-core box differ by that much). It exits 1 when one was not reproduced or not
measured, and 2 when a benchmark stopped because it did not measure what it claims.

    .venv/bin/python bench/check.py                      # every run (about two hours)
    .venv/bin/python bench/check.py --only pipeline      # the runs whose id contains this
    .venv/bin/python bench/check.py --results FILE       # compare a results file, run nothing
    .venv/bin/python bench/check.py --record FILE        # publish FILE's figures (date, commit,
                                                         # load, range) into published.json
    .venv/bin/python bench/check.py --docs               # rewrite the tables in the docs

The tables of figures in docs/performance.md and README.md are rendered from published.json
(`--docs`), between `<!-- published:NAME -->` and `<!-- /published -->`, so that a published
number always carries its script, date, commit, load and range; a test keeps them in step.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import POSTGRES, copy_history  # noqa: E402

REGISTRY = ROOT / "bench" / "published.json"
DOCS = [ROOT / "docs" / "performance.md", ROOT / "README.md"]
DEFAULT_TOLERANCE = 0.2
BLOCK = re.compile(
    r"(<!-- published:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /published -->)", re.S
)


def registry():
    return json.loads(REGISTRY.read_text())


def results_of(path):
    """{(run id, figure name): [(figure, run record), ...]} from a results file."""
    found = {}
    for line in Path(path).read_text().splitlines():
        run = json.loads(line)
        for figure in run["figures"]:
            found.setdefault((run["run"], figure["figure"]), []).append((figure, run))
    return found


def reproduced(claim, figure):
    """Whether a measured figure reproduces a published one: its median inside the published
    range, widened by the tolerance."""
    published = claim["published"]
    tolerance = claim.get("tolerance", DEFAULT_TOLERANCE)
    low = published["min"] * (1 - tolerance)
    high = published["max"] * (1 + tolerance)
    return low <= figure["median"] <= high


def value_text(values, unit="", digits=2):
    median, low, high = (values[key] for key in ("median", "min", "max"))
    spread = "" if low == high else f" ({low:.{digits}f}-{high:.{digits}f})"
    return f"{median:.{digits}f}{spread} {unit}".strip()


def prepare_databases(run):
    """Make the PostgreSQL databases a run names: `fresh` ones empty, `copies` of the
    100k-request history."""
    if run.get("fresh"):
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            for name in run["fresh"]:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
    for name in run.get("copies", []):
        copy_history(name)


def run_benchmarks(runs, results):
    """Run each benchmark; return the ids of those that stopped, with their exit status."""
    stopped = {}
    for run_id, run in runs.items():
        prepare_databases(run)
        command = [sys.executable, str(ROOT / run["script"]), *run.get("args", [])]
        print(f"\n=== {run_id}: {' '.join(command[1:])}", flush=True)
        env = {**os.environ, **run.get("env", {}), "BENCH_RESULTS": str(results)}
        env["BENCH_RUN"] = run_id
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        print(f"=== {run_id}: exit {done.returncode} in {time.monotonic() - started:.0f} s")
        if done.returncode:
            stopped[run_id] = done.returncode
    return stopped


def compare(claims, found, stopped):
    """Print published against measured; return the number not reproduced."""
    missed = 0
    print(f"\n{'figure':52} {'published':>24} {'measured':>24}  load   verdict")
    for claim in claims:
        digits = claim.get("digits", 2)
        if "published" not in claim:
            print(f"{claim['figure']:52} {'(not yet published)':>24}")
            missed += 1
            continue
        published = value_text(claim["published"], digits=digits)
        key = (claim["run"], claim["figure"])
        if key not in found:
            why = f"stopped, exit {stopped[claim['run']]}" if claim["run"] in stopped else "absent"
            print(f"{claim['figure']:52} {published:>24} {'-':>24}  -      NOT MEASURED ({why})")
            missed += 1
            continue
        figure, record = found[key][-1]
        ok = reproduced(claim, figure)
        missed += not ok
        load = f"{record['load']['min']:.1f}-{record['load']['max']:.1f}"
        measured = value_text(figure, digits=digits)
        verdict = "reproduced" if ok else "NOT REPRODUCED"
        print(f"{claim['figure']:52} {published:>24} {measured:>24}  {load:5}  {verdict}")
    return missed


def record(path):
    """Publish the figures of a results file: each claim it measured takes its range, date,
    commit and load (a figure measured in several runs of the file: the union of their ranges)."""
    data = registry()
    measured = results_of(path)
    for claim in data["figures"]:
        runs = measured.get((claim["run"], claim["figure"]))
        if not runs:
            continue
        medians = sorted(f["median"] for f, _ in runs)
        claim["published"] = {
            "median": medians[len(medians) // 2],
            "min": min(f["min"] for f, _ in runs),
            "max": max(f["max"] for f, _ in runs),
            "rounds": sum(f["rounds"] for f, _ in runs),
            "runs": len(runs),
            "unit": runs[0][0]["unit"],
        }
        claim["date"] = max(r["date"] for _, r in runs)
        claim["commit"] = runs[-1][1]["commit"]
        claim["load"] = [
            min(r["load"]["min"] for _, r in runs),
            max(r["load"]["max"] for _, r in runs),
        ]
    REGISTRY.write_text(json.dumps(data, indent=2) + "\n")


def render(data, name):
    """The Markdown table of the claims shown in the docs' block `name`."""
    lines = [
        "| figure | published: median (range of rounds) | aim | script | date, commit | load |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for claim in data["figures"]:
        if name not in claim.get("blocks", []) or "published" not in claim:
            continue
        run = data["runs"][claim["run"]]
        published = claim["published"]
        value = value_text(published, published.get("unit", ""), claim.get("digits", 2))
        aim = f"{claim['aim'][0]} {claim['aim'][1]}" if claim.get("aim") else ""
        command = " ".join([run["script"], *run.get("args", [])])
        env = " ".join(f"{k}=…" for k in run.get("env", {}))
        where = f"`{env + ' ' if env else ''}{command}`"
        load = f"{claim['load'][0]:.1f}-{claim['load'][1]:.1f}"
        lines.append(
            f"| {claim['label']} | {value} | {aim} | {where} | {claim['date']}, "
            f"`{claim['commit']}` | {load} |"
        )
    return "\n".join(lines) + "\n"


def docs(write):
    """Render every block; rewrite the files when `write`; return the files out of step."""
    data = registry()
    stale = []
    for path in DOCS:
        text = path.read_text()
        new = BLOCK.sub(
            lambda m: m.group(1) + render(data, m.group("name")) + m.group(4),
            text,
        )
        if new != text:
            stale.append(path)
            if write:
                path.write_text(new)
    return stale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the runs whose id contains this")
    parser.add_argument("--results", help="compare this results file; run nothing")
    parser.add_argument("--record", help="publish this results file's figures")
    parser.add_argument("--docs", action="store_true", help="rewrite the docs' tables")
    args = parser.parse_args()
    if args.record:
        record(args.record)
        print(f"recorded {args.record} into {REGISTRY.relative_to(ROOT)}")
        args.docs = True
    if args.docs:
        for path in docs(write=True):
            print(f"rewrote the published figures in {path.relative_to(ROOT)}")
        return 0
    data = registry()
    runs = {
        run_id: run for run_id, run in data["runs"].items() if not args.only or args.only in run_id
    }
    claims = [claim for claim in data["figures"] if claim["run"] in runs]
    stopped = {}
    if args.results:
        results = Path(args.results)
    else:
        results = Path(tempfile.mkdtemp(prefix="bench-check-")) / "results.jsonl"
        results.touch()
        stopped = run_benchmarks(runs, results)
        print(f"\nresults: {results}")
    missed = compare(claims, results_of(results), stopped)
    print(f"\n{len(claims) - missed} of {len(claims)} published figures reproduced")
    if any(code == 2 for code in stopped.values()):
        return 2
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
