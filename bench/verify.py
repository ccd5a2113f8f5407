"""Verifying the whole audit log: about 1,000,000 events, and a checkpoint file beside them.

`audit_chain_verify` checks every event's keyed hash in order, every checkpoint line, and every
request and service against the events that explain it. This prints the time it takes against
the aim (60 s for 1M events on PostgreSQL) as a ratio, and what it costs in memory: the growth
of the process's peak RSS, and in a second pass the peak of what Python allocated
(tracemalloc), which stays flat however long the log (events and checkpoints are streams).

    .venv/bin/python bench/verify.py                      # PostgreSQL, database portal_bench
    .venv/bin/python bench/verify.py --database-url sqlite:///var/bench-history.sqlite3

The history (manage.py generate_history, 100,000 requests) is made once and reused, shared
with bench/history.py; the checkpoint file is rewritten each run, one line per
`--every` events (100,000 lines by default: about 70 days of minute checkpoints).
"""

import argparse
import json
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import peak_rss_kb, setup  # noqa: E402

AIM_SECONDS_PER_MILLION = 60.0
START = datetime(2026, 1, 1, tzinfo=UTC)


def write_checkpoints(path, every):
    """One checkpoint line per `every` events, each what audit_checkpoint_write would write."""
    from portal.audit import chain
    from portal.audit.models import AuditEvent
    from portal.audit.services import _checkpoint_mac

    key_id = chain.current_key_id()
    lines = 0
    with path.open("w") as file:
        rows = AuditEvent.objects.filter(seq__gt=0).order_by("seq").values_list("seq", "hash")
        for seq, digest in rows.iterator(chunk_size=10000):
            if seq % every:
                continue
            at = (START + timedelta(minutes=seq // every)).isoformat(timespec="seconds")
            line = {
                "seq": seq,
                "hash": digest,
                "at": at,
                "key_id": key_id,
                "mac": _checkpoint_mac(seq, digest, at, key_id),
            }
            file.write(json.dumps(line, sort_keys=True) + "\n")
            lines += 1
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_bench")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10, help="events per checkpoint line")
    parser.add_argument("--no-tracemalloc", action="store_true")
    args = parser.parse_args()
    (ROOT / "var").mkdir(exist_ok=True)
    setup(args.database_url, args.requests)

    from django.db import connection

    from portal.audit.models import AuditEvent
    from portal.audit.services import audit_chain_verify

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    path = ROOT / "var" / "bench-checkpoints.jsonl"
    lines = write_checkpoints(path, args.every)
    events = AuditEvent.objects.count()
    print(
        f"database: {connection.vendor}; events: {events:,}; checkpoint lines: {lines:,} "
        f"({path.stat().st_size / 2**20:.0f} MB)"
    )

    before = peak_rss_kb()
    started = time.perf_counter()
    report = audit_chain_verify(checkpoint_file=path)
    elapsed = time.perf_counter() - started
    after = peak_rss_kb()
    assert report.ok, str(report)
    assert report.events_checked == events and report.checkpoints_checked == lines, report
    per_million = elapsed * 1_000_000 / events
    print(report)
    print(
        f"verify: {elapsed:.1f} s = {events / elapsed:,.0f} events/s; "
        f"{per_million:.1f} s per 1M events; ratio to the 60 s aim: "
        f"{per_million / AIM_SECONDS_PER_MILLION:.2f} (aim: 1.00 or less)"
    )
    print(
        f"peak RSS: {before / 1024:.0f} MB before, {after / 1024:.0f} MB after "
        f"(growth {(after - before) / 1024:.1f} MB)"
    )
    if args.no_tracemalloc:
        return
    tracemalloc.start()
    report = audit_chain_verify(checkpoint_file=path)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.ok, str(report)
    print(f"peak Python allocation while verifying (tracemalloc): {peak / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
