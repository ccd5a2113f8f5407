"""What every benchmark reports besides its figures, and how it refuses to report the wrong ones.

- `Run`: the box's load (os.getloadavg) before, during and after, the commit and the date, and
  a JSON record of every figure, written where bench/check.py reads it (BENCH_RESULTS) or under
  var/bench-results/.
- `expect(condition, why)`: a benchmark checks what it received (status codes, a marker of the
  real page, byte sizes, row counts, that the work it timed happened) and, when it did not
  measure what it claims, stops with exit status 2 saying why. No figure is printed after that.
- `Run.figure(name, values, ...)`: a figure is the values of its paired, interleaved rounds,
  printed and recorded as a median with its range, never a single best.

    with Run("bench/poll.py", argv) as run:
        ...
        run.figure("poll.worst", ratios, unit="x bare view", aim=(">=", 0.8))
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_MEASURED = 2  # the exit status of a benchmark that did not measure what it claims


class NotMeasured(SystemExit):
    """A benchmark received something other than what it claims to time."""

    def __init__(self, why):
        super().__init__(NOT_MEASURED)
        self.why = why

    def __str__(self):
        return self.why


def expect(condition, why):
    """Stop the benchmark, saying `why`, unless `condition` holds."""
    if not condition:
        print(f"\nNOT MEASURED: {why}", file=sys.stderr, flush=True)
        raise NotMeasured(why)


def commit():
    """The commit measured, with '+dirty' when anything in the tree differs from it: templates,
    static files and pyproject.toml change what is measured as much as the code does."""
    try:
        head = _git("rev-parse", "--short=10", "HEAD")
        dirty = _git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _git(*args):
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def load():
    """The box's one-minute load average."""
    return round(os.getloadavg()[0], 2)


# The load when the script started, before its own setup (generating data, starting servers)
# raised it: every script imports this module first.
LOAD_AT_START = load()


def versions():
    """What else decides the figures: Python's and the main libraries' versions."""
    found = {"python": platform.python_version()}
    for name in ("django", "celery", "kombu", "psycopg", "alibabacloud-tea-openapi"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def spread(values):
    """(median, min, max) of a figure's rounds."""
    return statistics.median(values), min(values), max(values)


def met(value, aim):
    """Whether `value` meets `aim`, a pair like ('<=', 1.5) or ('>=', 0.8); None without one."""
    if aim is None:
        return None
    op, bound = aim
    return value <= bound if op == "<=" else value >= bound


class Run:
    """One benchmark run: its load, commit and date, and the figures it measured."""

    def __init__(self, script, argv=None, *, sample_every=5.0):
        self.script = script
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.figures = []
        self.notes = {}
        self._samples = []
        self._sample_every = sample_every
        self._stop = threading.Event()

    def __enter__(self):
        self.started = datetime.now(UTC)
        self.load_before = load()
        self._samples.append(self.load_before)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        self.commit = commit()
        print(
            f"{self.script} {' '.join(self.argv)}\n"
            f"commit {self.commit}, {self.started:%Y-%m-%d %H:%M} UTC, "
            f"{os.cpu_count()} cores, load before {self.load_before:.2f} "
            f"(at the script's start {LOAD_AT_START:.2f})",
            flush=True,
        )
        return self

    def _sample(self):
        while not self._stop.wait(self._sample_every):
            self._samples.append(load())

    def note(self, **facts):
        """Record facts about what was measured (rows, database, sizes) with the figures."""
        self.notes.update(facts)

    def figure(self, name, values, *, unit="", aim=None, label=None, digits=2):
        """Print and record one figure: its rounds' median and range, and its aim if any."""
        values = [float(v) for v in values]
        expect(values, f"{name}: no rounds were measured")
        median, low, high = spread(values)
        verdict = met(median, aim)
        aim_text = f"; aim {aim[0]} {aim[1]}: {'met' if verdict else 'MISSED'}" if aim else ""
        print(
            f"  {label or name}: {median:.{digits}f} {unit} (range {low:.{digits}f}-"
            f"{high:.{digits}f}, {len(values)} rounds{aim_text})",
            flush=True,
        )
        self.figures.append(
            {
                "figure": name,
                "unit": unit,
                "median": median,
                "min": low,
                "max": high,
                "rounds": len(values),
                "values": values,
                "aim": list(aim) if aim else None,
                "met": verdict,
            }
        )
        return median

    def __exit__(self, kind, error, _traceback):
        self._stop.set()
        self.load_after = load()
        self._samples.append(self.load_after)
        finished = datetime.now(UTC)
        print(
            f"load after {self.load_after:.2f}; during the run {min(self._samples):.2f}-"
            f"{max(self._samples):.2f}; {(finished - self.started).total_seconds():.0f} s",
            flush=True,
        )
        if kind is not None:
            return False  # nothing is recorded of a run that failed or measured the wrong thing
        expect(
            commit() == self.commit,
            f"the tree changed during the run (commit {self.commit} at its start, "
            f"{commit()} at its end): which code was measured is not known",
        )
        record = {
            # The id bench/check.py runs this under: the same script runs on several stacks.
            "run": os.environ.get("BENCH_RUN", ""),
            "script": self.script,
            "argv": self.argv,
            "commit": self.commit,
            "date": f"{self.started:%Y-%m-%d}",
            "started": self.started.isoformat(timespec="seconds"),
            "seconds": round((finished - self.started).total_seconds(), 1),
            "versions": versions(),
            "load": {
                "at_start": LOAD_AT_START,
                "before": self.load_before,
                "after": self.load_after,
                "min": min(self._samples),
                "max": max(self._samples),
            },
            "notes": self.notes,
            "figures": self.figures,
        }
        path = os.environ.get("BENCH_RESULTS")
        if path:
            target = Path(path)
        else:
            target = ROOT / "var" / "bench-results" / f"{Path(self.script).stem}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as file:
            file.write(json.dumps(record) + "\n")
        return False
