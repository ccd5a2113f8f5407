"""Verifying the whole audit log (about 1,000,000 events) against its floor, and its memory.

`audit_chain_verify` checks every event's keyed hash in order, every checkpoint line, and every
request and service against the events that explain it. Its floor is what no verification of
the same log can skip: one plain loop over a server-side cursor (a psycopg named cursor on
PostgreSQL, Django's `.iterator()` on SQLite) that recomputes, for each event, the exact bytes
the portal seals (its content fields as canonical JSON, after the previous hash) and their
HMAC, and compares them with the stored hash and the chain link; no lifecycle or row checks.

In paired rounds (default 3, the order alternating: portal then floor, floor then portal) it
prints and records seconds per 1M events for both and the ratio portal/floor of each round;
and, in each of `--memory-rounds` fresh processes (default 3), the growth of peak RSS during
the portal's verification, that process's first (peak RSS never goes down, so a later pass in
the same process would hide it), and, unless --no-tracemalloc, the peak of what Python
allocated in one more pass there.

    .venv/bin/python bench/verify.py                      # PostgreSQL, database portal_bench
    .venv/bin/python bench/verify.py --database-url sqlite:///var/bench-history.sqlite3
    .venv/bin/python bench/verify.py --people 10000    # and 10,000 people's rights to check
    .venv/bin/python bench/verify.py --database-url postgres://postgres@127.0.0.1:5432/mine \
        --requests 3000 --rounds 3 --checkpoint-file var/mine-checkpoints.jsonl

It stops with exit status 2 (bench/report.py) unless every verification, in this process and
in the fresh ones, reports the log intact, having checked every event, every request and every
checkpoint line written, and
unless the floor found every event authentic and linked and counted all of them (else it did
not check the bytes the portal seals). The history (manage.py generate_history, 100,000
requests) is made once and shared with bench/history.py; the checkpoint file is rewritten
each run: a line every `--every` events, and, as beat would have written it, the log's head
as its last line.
"""

import argparse
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import peak_rss_kb, setup  # noqa: E402
from bench.report import Run, expect  # noqa: E402

AIM_SECONDS_PER_MILLION = 60.0
START = datetime(2026, 1, 1, tzinfo=UTC)
READ_CHUNK = 5000  # rows per fetch, as the portal's own reader


def write_checkpoints(path, every):
    """Write a checkpoint line per `every` events and one for the head, each what
    audit_checkpoint_write would have written then; return the number of lines.

    The head's line matters: with checkpoints required, events after the newest line that are
    older than the grace period mean the file was cut short, and a generated history's events
    are all old.
    """
    from portal.audit import chain
    from portal.audit.models import AuditEvent, ChainHead
    from portal.audit.services import _checkpoint_mac

    expect(every >= 1, f"--every must be 1 or more, not {every}")
    head = ChainHead.objects.filter(pk=ChainHead.ONLY).values_list("seq", flat=True).first()
    key_id = chain.current_key_id()
    lines = 0
    with path.open("w") as file:
        rows = AuditEvent.objects.filter(seq__gt=0).order_by("seq").values_list("seq", "hash")
        for seq, digest in rows.iterator(chunk_size=10000):
            if seq % every and seq != head:
                continue
            # A minute per line; the head's line a minute after the one before it.
            at = (START + timedelta(minutes=-(-seq // every))).isoformat(timespec="seconds")
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


def _server_side_rows(queryset):
    """`queryset`'s rows through one psycopg named cursor, as the driver hands them."""
    from django.db import connection, transaction

    sql, params = queryset.query.sql_with_params()
    connection.ensure_connection()
    # A named cursor lives in a transaction; one statement reads one snapshot anyway.
    with transaction.atomic(), connection.connection.cursor(name="verify_floor") as cursor:
        cursor.itersize = READ_CHUNK
        cursor.execute(sql, params)
        yield from cursor


def floor_walk():
    """Check every event's HMAC and chain link in one plain loop; return the events checked.

    Stops the benchmark (NotMeasured) at the first event it does not find authentic and
    linked: its bytes are not the ones the portal seals, so it would time something else.
    """
    import orjson
    from django.db import connection

    from portal.audit import chain
    from portal.audit.models import AuditEvent

    names = chain.CONTENT_FIELDS
    events = AuditEvent.objects.order_by("seq").values_list(*names, "prev_hash", "hash")
    if connection.vendor == "postgresql":
        rows = _server_side_rows(events)
    else:
        rows = events.iterator(chunk_size=READ_CHUNK)
    secrets = chain.keys()
    dumps, loads, sort_keys = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
    new, compare, sha256 = hmac.new, hmac.compare_digest, hashlib.sha256
    prev, checked = chain.GENESIS, 0
    for row in rows:
        content = dict(zip(names, row, strict=False))  # prev_hash and hash follow in row
        prev_hash, digest = row[-2], row[-1]
        checked += 1
        if content["seq"] != checked or prev_hash != prev:
            expect(False, f"the floor found event #{checked} out of the chain: not the log")
        if content["details"].__class__ is str:  # PostgreSQL's driver hands JSON text
            content["details"] = loads(content["details"])
        content["created_at"] = (
            content["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
        )
        secret = secrets.get(content["key_id"])
        if secret is None:
            expect(False, f"the floor has no key {content['key_id']!r} for event #{checked}")
        sealed = new(secret, prev.encode() + b"\n" + dumps(content, option=sort_keys), sha256)
        if not compare(sealed.hexdigest(), digest):
            expect(False, f"the floor found event #{checked} not authentic: not the bytes sealed")
        prev = digest
    return checked


def first_verification(path):
    """The peak RSS growth (KB) of this process's first verification, with its report."""
    from portal.audit.services import audit_chain_verify

    before = peak_rss_kb()
    report = audit_chain_verify(checkpoint_file=path)
    return peak_rss_kb() - before, report


def check_report(report, events, requests, lines, rights=None):
    """Stop unless `report` says the whole log, every request and every line (and, given,
    every rights row) were checked."""
    expect(report.ok, f"the portal's verification failed: {report}")
    if rights is not None:
        expect(
            report.rights_checked == rights,
            f"the portal checked {report.rights_checked:,} rights rows of {rights:,}",
        )
    expect(
        report.events_checked == events,
        f"the portal checked {report.events_checked:,} events of {events:,}",
    )
    expect(
        report.requests_checked == requests,
        f"the portal checked {report.requests_checked:,} requests of {requests:,}",
    )
    expect(
        report.checkpoints_checked == lines,
        f"the portal checked {report.checkpoints_checked:,} checkpoint lines of {lines:,} written",
    )


def memory_in_fresh_process(args, counts):
    """What this script's --memory-child found: the peak RSS growth (KB) of a fresh process's
    first verification and, unless --no-tracemalloc, the peak Python allocation (bytes) of
    one more. Each verification must have checked the `counts` (events, requests, lines)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                result.name,
                "--database-url",
                args.database_url,
                "--checkpoint-file",
                args.checkpoint_file,
                "--counts",
                *map(str, counts),
                *(["--no-tracemalloc"] if args.no_tracemalloc else []),
            ],
            check=False,
        )
        # A verification the child found wrong stopped it with its reason on stderr.
        expect(child.returncode == 0, f"the fresh process's verification exited {child.returncode}")
        return json.load(result)


def memory_child(args):
    setup(args.database_url, 0, prepare=False)
    from portal.audit.services import audit_chain_verify

    path = Path(args.checkpoint_file)
    growth, report = first_verification(path)
    check_report(report, *args.counts)
    found = {"growth_kb": growth, "python_peak": None}
    if not args.no_tracemalloc:
        tracemalloc.start()
        report = audit_chain_verify(checkpoint_file=path)
        _current, found["python_peak"] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        check_report(report, *args.counts)
    Path(args.memory_child).write_text(json.dumps(found))


def memory(run, args, counts):
    """The memory figures, a round per fresh process."""
    expect(args.memory_rounds >= 1, f"--memory-rounds must be 1 or more, not {args.memory_rounds}")
    found = [memory_in_fresh_process(args, counts) for _ in range(args.memory_rounds)]
    run.figure(
        "verify.rss_growth_mb",
        [each["growth_kb"] / 1024 for each in found],
        unit="MB",
        label="peak RSS growth, each fresh process's first verification",
        digits=1,
    )
    if args.no_tracemalloc:
        return
    run.figure(
        "verify.python_peak_mb",
        [each["python_peak"] / 2**20 for each in found],
        unit="MB",
        label="peak Python allocation while verifying (tracemalloc, a pass in each process)",
        digits=1,
    )


def add_people(wanted):
    """Make sure `wanted` bench people exist, each granted as an organisation grants: an
    approver (a group), a team's approver (a membership) and a write token, through the
    portal's models, so that each grant is sealed as it is made; return the rights rows."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from portal.api import services as tokens
    from portal.audit import grants
    from portal.teams.models import Membership, Role, Team

    users = get_user_model()
    have = users.objects.filter(username__startswith="bench-person-").count()
    if have < wanted:
        print(f"granting rights to {wanted - have} people (once; later runs reuse them)...")
        approvers, _ = Group.objects.get_or_create(name="approvers")
        team, _ = Team.objects.get_or_create(name="bench-team")
        for number in range(have, wanted):
            with transaction.atomic():
                person = users.objects.create_user(f"bench-person-{number:06d}")
                person.groups.add(approvers)
                Membership.objects.create(team=team, user=person, role=Role.APPROVER)
                tokens.token_create(user=person, name="bench", scope="write")
    return sum(table.model.objects.count() for table in grants.TABLES.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_bench")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10, help="events per checkpoint line")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds, portal and floor")
    parser.add_argument("--checkpoint-file", default=str(ROOT / "var" / "bench-checkpoints.jsonl"))
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument(
        "--people",
        type=int,
        default=0,
        help="people granted rights (an approver, a team approver, a write token each)",
    )
    parser.add_argument(
        "--memory-rounds", type=int, default=3, help="fresh processes measuring its memory"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--counts", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return
    (ROOT / "var").mkdir(exist_ok=True)
    setup(args.database_url, args.requests)
    rights = add_people(args.people)

    from django.db import connection

    from bench.paired import paired
    from portal.audit.models import AuditEvent
    from portal.audit.services import audit_chain_verify
    from portal.service_requests.models import ServiceRequest

    with Run("bench/verify.py") as run:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        path = Path(args.checkpoint_file)
        lines = write_checkpoints(path, args.every)
        events = AuditEvent.objects.count()
        requests = ServiceRequest.objects.count()
        expect(events > 0, "the database has no audit events: nothing to verify")
        run.note(
            database=connection.vendor,
            events=events,
            requests=requests,
            checkpoint_lines=lines,
            rights_rows=rights,
            checkpoint_mb=round(path.stat().st_size / 2**20, 1),
        )
        print(
            f"database: {connection.vendor}; events: {events:,}; requests: {requests:,}; "
            f"checkpoint lines: {lines:,} ({path.stat().st_size / 2**20:.1f} MB); "
            f"rights rows: {rights:,}",
            flush=True,
        )

        def portal():
            report = audit_chain_verify(checkpoint_file=path)
            check_report(report, events, requests, lines, rights)

        def floor():
            checked = floor_walk()
            expect(checked == events, f"the floor checked {checked:,} events of {events:,}")

        portal_s, floor_s, ratios = paired(portal, floor, rounds=args.rounds)
        per_million = 1_000_000 / events
        run.figure(
            "verify.s_per_million.portal",
            [s * per_million for s in portal_s],
            unit="s per 1M events",
            aim=("<=", AIM_SECONDS_PER_MILLION),
            label="portal (audit_chain_verify)",
            digits=1,
        )
        run.figure(
            "verify.s_per_million.floor",
            [s * per_million for s in floor_s],
            unit="s per 1M events",
            label="floor (one loop: HMAC and link of every event)",
            digits=1,
        )
        run.figure("verify.ratio_to_floor", ratios, unit="x the floor's time", label="portal/floor")
        memory(run, args, (events, requests, lines))


if __name__ == "__main__":
    main()
