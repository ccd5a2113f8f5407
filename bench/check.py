"""Rerun every published figure and compare it with what is published (`make bench-check`).

Every figure the README and docs/performance.md publish is a row of bench/published.json: the
benchmark run that measures it (script, arguments, environment), and what was published: its
median and range over the run's rounds, the date, the commit and the box's load. This script
runs each benchmark once (every figure it prints lands in one results file, through
bench/report.py), then says for each published figure whether this run reproduced it: its
median within the published range, widened by the figure's tolerance (default 20%: two runs on
a shared 2-core box differ by that much). It exits 1 when one was not reproduced or not
measured, and 2 when a benchmark stopped because it did not measure what it claims.

    .venv/bin/python bench/check.py                      # every run (about 90 minutes)
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
import signal
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
NOT_MEASURED = 2  # bench/report.py's exit status for a benchmark that measured something else
TIMED_OUT = -1
# The portal's settings a caller's environment must not slip into a run (bench/check.py sets
# what a run needs in the registry), and the notes that say what a run ran on.
PORTAL_SETTINGS = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_DIR",
    "CACHE_URL",
    "DEBUG",
    "SECRET_KEY",
    "AUDIT_HMAC_KEYS",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "DJANGO_SETTINGS_MODULE",
}
STACK_NOTES = ("database", "broker", "requests", "events", "services", "pending_approval")
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


def window(claim):
    """The values that reproduce a published figure: its published range of rounds, or its
    median give or take the tolerance where that is wider (a fraction of the median, or
    `tolerance_abs` in the figure's own unit, for percentages and counts near zero)."""
    published = claim["published"]
    median = published["median"]
    margin = claim.get("tolerance_abs", abs(median) * claim.get("tolerance", DEFAULT_TOLERANCE))
    return min(published["min"], median - margin), max(published["max"], median + margin)


def reproduced(claim, figure):
    """Whether a measured figure reproduces a published one: its median inside the window,
    and its aim met or missed as published (a figure that now meets an aim it was published
    as missing, or the reverse, is news to publish, not a reproduction)."""
    low, high = window(claim)
    return low <= figure["median"] <= high and aim_met(claim, figure["median"]) == aim_met(
        claim, claim["published"]["median"]
    )


def aim_met(claim, value):
    if not claim.get("aim"):
        return None
    op, bound = claim["aim"]
    return value <= bound if op == "<=" else value >= bound


def value_text(values, digits=2):
    median, low, high = (values[key] for key in ("median", "min", "max"))
    spread = "" if low == high else f" ({low:.{digits}f}-{high:.{digits}f})"
    return f"{median:.{digits}f}{spread}"


def prepare_databases(run):
    """Make the PostgreSQL databases a run names anew: `fresh` ones empty, `copies` of the
    100k-request history, so that no run measures what an earlier one left behind."""
    if run.get("fresh"):
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            for name in run["fresh"]:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
    for name in run.get("copies", []):
        copy_history(name, anew=True)


def environment(run, results, run_id):
    """The run's environment: the caller's, less every setting the portal reads (an exported
    DATABASE_URL would otherwise decide which stack a run measures), plus the run's own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in PORTAL_SETTINGS and not name.startswith(("BENCH_", "PRIVATELINK_"))
    }
    return {**env, **run.get("env", {}), "BENCH_RESULTS": str(results), "BENCH_RUN": run_id}


def wait_for_quiet(limit, longest):
    """Wait, up to `longest` seconds, until the box's load falls to `limit`: the last run's
    processes are gone and their load has decayed, so that runs do not measure each other."""
    deadline = time.monotonic() + longest
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def run_benchmarks(runs, results, *, quiet, timeout):
    """Run each benchmark; return the ids of those that stopped, with their exit status."""
    stopped = {}
    for run_id, run in runs.items():
        prepare_databases(run)
        command = [sys.executable, str(ROOT / run["script"]), *run.get("args", [])]
        now = wait_for_quiet(quiet, longest=300)
        print(f"\n=== {run_id}: {' '.join(command[1:])} (load {now:.2f})", flush=True)
        started = time.monotonic()
        # Its own process group, so that a run that hangs is stopped with its servers.
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment(run, results, run_id), start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            code = TIMED_OUT
        print(f"=== {run_id}: exit {code} in {time.monotonic() - started:.0f} s")
        if code:
            stopped[run_id] = code
    return stopped


def why_absent(code):
    """What a run's exit status says of the figures it did not record."""
    if code == NOT_MEASURED:
        return "NOT MEASURED: the benchmark measured something else"
    if code == TIMED_OUT:
        return "TIMED OUT"
    return f"FAILED (exit {code}): see its output"


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
            code = stopped.get(claim["run"])
            why = why_absent(code) if code else "NOT MEASURED: the run recorded no such figure"
            print(f"{claim['figure']:52} {published:>24} {'-':>24}  -      {why}")
            missed += 1
            continue
        figure, record = found[key][-1]
        verdict = "reproduced" if reproduced(claim, figure) else "NOT REPRODUCED"
        changed = stack_changed(claim, record)
        if changed:
            verdict = f"NOT COMPARABLE ({changed})"
        missed += verdict != "reproduced"
        load = f"{record['load']['min']:.1f}-{record['load']['max']:.1f}"
        measured = value_text(figure, digits=digits)
        print(f"{claim['figure']:52} {published:>24} {measured:>24}  {load:5}  {verdict}")
    return missed


def stack_changed(claim, record):
    """What differs between the published run and this one in what they ran on (database,
    broker, rows), or None."""
    published = claim.get("measured_on", {})
    now = record.get("notes", {})
    differs = [
        f"{key} {published[key]} -> {now.get(key)}"
        for key in published
        if now.get(key) != published[key]
    ]
    return ", ".join(differs) or None


def record(path):
    """Publish the figures of a results file, each from the last run that measured it: its
    median and range of rounds, date, commit, load and what it ran on. Refuse a run of a
    commit that is not known or not clean: its figures could not be reproduced."""
    data = registry()
    measured = results_of(path)
    left = []
    for claim in data["figures"]:
        runs = measured.get((claim["run"], claim["figure"]))
        if not runs:
            left.append(claim["figure"])
            continue
        figure, run = runs[-1]
        if run["commit"] == "unknown" or run["commit"].endswith("+dirty"):
            raise SystemExit(f"{claim['figure']}: measured at {run['commit']}; commit first")
        claim["published"] = {key: figure[key] for key in ("median", "min", "max", "rounds")}
        claim["published"]["unit"] = figure["unit"]
        claim["date"] = run["date"]
        claim["commit"] = run["commit"]
        claim["load"] = [run["load"]["min"], run["load"]["max"]]
        claim["measured_on"] = {
            key: run["notes"][key] for key in STACK_NOTES if key in run.get("notes", {})
        }
    REGISTRY.write_text(json.dumps(data, indent=2) + "\n")
    for figure in left:
        print(f"not in {path}, left as published before: {figure}")


def render(data, name):
    """The Markdown table of the claims shown in the docs' block `name`."""
    lines = [
        "| figure | median (range) | rounds | aim | script | date, commit | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for claim in data["figures"]:
        if name not in claim.get("blocks", []) or "published" not in claim:
            continue
        run = data["runs"][claim["run"]]
        published = claim["published"]
        value = value_text(published, claim.get("digits", 2))
        aim = ""
        if claim.get("aim"):
            verdict = "met" if aim_met(claim, published["median"]) else "**missed**"
            aim = f"{claim['aim'][0]} {claim['aim'][1]}: {verdict}"
        command = " ".join(
            [*(f"{k}={v}" for k, v in run.get("env", {}).items()), run["script"], *run["args"]]
        )
        load = f"{claim['load'][0]:.1f}-{claim['load'][1]:.1f}"
        lines.append(
            f"| {claim['label']} | {value} | {published['rounds']} | {aim} | `{command}` | "
            f"{claim['date']}, `{claim['commit']}` | {load} |"
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
    parser.add_argument(
        "--quiet", type=float, default=1.0, help="wait (up to 5 min) for this load before a run"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a run may take")
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
        if (ROOT / ".env").exists():
            raise SystemExit(".env sets the portal's settings for every run: move it aside first")
        results = Path(tempfile.mkdtemp(prefix="bench-check-")) / "results.jsonl"
        results.touch()
        stopped = run_benchmarks(runs, results, quiet=args.quiet, timeout=args.timeout)
        print(f"\nresults: {results}")
    missed = compare(claims, results_of(results), stopped)
    print(f"\n{len(claims) - missed} of {len(claims)} published figures reproduced")
    if NOT_MEASURED in stopped.values():
        return NOT_MEASURED
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
