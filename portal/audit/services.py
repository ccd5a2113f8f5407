"""Verifying the audit log, and keeping its head outside the database.

`audit_chain_verify` answers three questions, and names the first thing found wrong:
1. Is the chain whole? Every event from 1 to the head, each sealed (HMAC) to the one
   before it: an edited, inserted, deleted, reordered or truncated event breaks it.
2. Does it match the checkpoints? Lines an operator ships off the database, each the head
   at some moment: a consistent rewrite by someone holding the database and even the key
   still differs from them, and a chain cut shorter than a checkpoint is caught.
3. Do the events explain the rows? Each app that keeps rows the log is about registers its
   check here (`explainer`): each request's state, content and approvals, each service's
   approved configuration, owner and management, must be what the events about it last
   recorded. A row written or edited behind the portal's back is named.

It streams: memory stays flat however long the log.
"""

import fcntl
import hmac
import itertools
import json
import logging
import os
import queue
import threading
from collections import deque
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection, transaction
from django.utils import timezone

from portal.audit import chain, grants
from portal.audit.models import AuditEvent, ChainCheck, ChainHead

log = logging.getLogger(__name__)
EVENT_FIELDS = ["id", *chain.CONTENT_FIELDS, "prev_hash", "hash"]
CHUNK = 2000
READ_CHUNK = 5000


@dataclass
class ChainReport:
    ok: bool
    events_checked: int = 0
    requests_checked: int = 0
    services_checked: int = 0
    rights_checked: int = 0
    checkpoints_checked: int = 0
    broken_event: int | None = None
    broken_request: int | None = None
    broken_service: int | None = None
    message: str = ""

    def __str__(self):
        if self.ok:
            return (
                f"audit chain intact: {self.events_checked} events, {self.requests_checked} "
                f"requests, {self.services_checked} services, {self.rights_checked} rights, "
                f"{self.checkpoints_checked} checkpoints"
            )
        where = [f"event #{self.broken_event}"] if self.broken_event else []
        if self.broken_request is not None:
            where.append(f"request #{self.broken_request}")
        if self.broken_service is not None:
            where.append(f"service #{self.broken_service}")
        return f"audit chain BROKEN at {', '.join(where) or 'the head'}: {self.message}"


class Broken(Exception):
    def __init__(self, message, *, seq=None, request=None, service=None):
        super().__init__(message)
        self.message, self.seq, self.request, self.service = message, seq, request, service


# --- checkpoints -------------------------------------------------------------------------


def _checkpoint_mac(seq, digest, at, key_id, secrets=None):
    message = f"{seq}:{digest}:{at}".encode()
    return chain.seal("checkpoint", message, key_id, secrets)


def audit_checkpoint_write(path=None):
    """Append the chain's head to the checkpoint file, if it moved; return the line or None.

    The file only grows (O_APPEND, fsync): ship it to write-once storage. Writers (beat, and
    workers covering a decision) take the file's lock, so lines never go back in the chain.
    """
    path = Path(path or settings.AUDIT_CHECKPOINT_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        head = ChainHead.objects.filter(pk=ChainHead.ONLY).first()
        if head is None or head.seq == 0:
            return None
        last = _last_checkpoint_seq(path)
        if last is not None and last >= head.seq:
            return None
        at = timezone.now().isoformat(timespec="seconds")
        key_id = chain.current_key_id()
        line = {
            "seq": head.seq,
            "hash": head.hash,
            "at": at,
            "key_id": key_id,
            "mac": _checkpoint_mac(head.seq, head.hash, at, key_id),
        }
        os.write(descriptor, (json.dumps(line, sort_keys=True) + "\n").encode())
        os.fsync(descriptor)
        return line
    finally:
        os.close(descriptor)  # and with it the lock


def audit_checkpoint_cover(seq, path=None):
    """Make sure a checkpoint line covers event #`seq` (written now if none does yet): what
    a worker asks before it acts on a decision, so that the decision cannot be rolled back
    unseen afterwards. Raises OSError if the file cannot be written (the act waits)."""
    path = Path(path or settings.AUDIT_CHECKPOINT_FILE)
    last = _last_checkpoint_seq(path)
    if last is not None and last >= seq:
        return
    audit_checkpoint_write(path)


def _last_checkpoint_seq(path, tail=65536):
    """Return the sequence number of the file's last line (reading only its tail), or None."""
    if not path.exists():
        return None
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - tail))
        lines = [line for line in file.read().splitlines() if line.strip()]
    try:
        return int(json.loads(lines[-1])["seq"]) if lines else None
    except (ValueError, KeyError, TypeError):
        return None  # verification names the line; a fresh head line follows it


def _checkpoints(path):
    """Yield the checkpoint lines of `path` in order, each checked for its MAC; raise Broken.

    A generator, so that a year of checkpoints costs no more memory than one.
    """
    if not path.exists():
        return
    secrets = chain.keys()
    last_seq = 0
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                expected = _checkpoint_mac(
                    line["seq"], line["hash"], line["at"], line["key_id"], secrets
                )
            except (ValueError, KeyError, TypeError) as error:
                raise Broken(
                    f"checkpoint line {number} is not one the portal wrote ({error})"
                ) from None
            if not hmac.compare_digest(expected, line["mac"]):
                raise Broken(f"checkpoint line {number} was edited (its MAC does not match)")
            if line["seq"] < last_seq:
                raise Broken(f"checkpoint line {number} goes back in the chain")
            last_seq = line["seq"]
            yield line


# --- the chain ---------------------------------------------------------------------------


def _walk_chain(path, snapshot=None, ledger=None):
    """Check every event in order against the one before and the checkpoints, up to the head
    as it was when verification began (events appended since are for the next run); keep in
    `ledger` the newest record of each rights row (grants.observe).

    Return (events, checkpoints) checked. Events and checkpoint lines are both read as
    streams, side by side in sequence order.
    """
    secrets = chain.keys()
    head = ChainHead.objects.filter(pk=ChainHead.ONLY).first() or ChainHead(seq=0)
    checkpoints = _checkpoints(path)
    checkpoint = next(checkpoints, None)
    checked = newest = 0
    prev, seq = chain.GENESIS, 0
    canonical, seal, loads = chain.canonical_fast, chain.seal, orjson.loads
    ledger = {} if ledger is None else ledger
    right = grants.RIGHT
    for row in _event_rows(snapshot):
        event = dict(zip(EVENT_FIELDS, row, strict=True))
        if event["details"].__class__ is str:  # PostgreSQL's reader hands JSON text
            try:
                event["details"] = loads(event["details"])
            except orjson.JSONDecodeError:
                event["details"] = json.loads(event["details"])
        seq += 1
        if event["seq"] != seq:
            where = "deleted" if event["seq"] > seq else "inserted or reordered"
            raise Broken(f"#{event['seq']} follows #{seq - 1}: events were {where}", seq=seq)
        if event["prev_hash"] != prev:
            raise Broken(
                f"#{seq} does not follow the event before it: one was inserted, deleted or "
                "rewritten",
                seq=seq,
            )
        try:
            sealed = seal(prev, canonical(event), event["key_id"], secrets)
        except KeyError:
            raise Broken(f"#{seq} names a key the portal does not hold", seq=seq) from None
        if not hmac.compare_digest(sealed, event["hash"]) and not hmac.compare_digest(
            seal(prev, chain.canonical_content(event), event["key_id"], secrets), event["hash"]
        ):
            raise Broken(f"#{seq} was edited", seq=seq, request=event["request_id"])
        while checkpoint is not None and checkpoint["seq"] == seq:
            if checkpoint["hash"] != event["hash"]:
                raise Broken(
                    f"#{seq} differs from the checkpoint of {checkpoint['at']}: the log was "
                    "rewritten",
                    seq=seq,
                )
            checked += 1
            newest = seq
            checkpoint = next(checkpoints, None)
        if event["action"] == right:
            grants.observe(ledger, event["details"], seq)
        prev = event["hash"]
    if (head.seq, head.hash or chain.GENESIS) != (seq, prev):
        raise Broken(
            f"the head says #{head.seq} but the log ends at #{seq}: the newest events were "
            "removed or appended outside the portal",
            seq=seq,
        )
    if checkpoint is not None:
        # Read on (a later line may be the one edited), keeping only the newest line.
        newest = deque(itertools.chain([checkpoint], checkpoints), maxlen=1)[0]
        raise Broken(
            f"the log ends at #{seq} but the checkpoint of {newest['at']} saw "
            f"#{newest['seq']}: the newest events were removed",
            seq=seq,
        )
    _checkpoints_current(newest)
    return seq, checked


def _checkpoints_current(newest):
    """Raise Broken if events older than the checkpoints' grace follow the newest checkpoint
    (#`newest`): the file was cut short or emptied, or beat stopped writing it."""
    if not settings.AUDIT_CHECKPOINTS_REQUIRED:
        return
    after = AuditEvent.objects.filter(seq=newest + 1).values_list("created_at", flat=True).first()
    grace = timedelta(seconds=10 * settings.AUDIT_CHECKPOINT_EVERY)
    if after is not None and after < timezone.now() - grace:
        raise Broken(
            f"the newest checkpoint is of #{newest}, but #{newest + 1} was written "
            f"{after:%Y-%m-%d %H:%M} UTC, longer ago than checkpoints are written: the "
            "checkpoint file was cut short, or beat stopped writing it",
            seq=newest + 1,
        )


def _event_rows(snapshot):
    """Yield the log's rows (EVENT_FIELDS) in order.

    On PostgreSQL, with a `snapshot` exported by the verifying transaction, a second thread
    reads the next chunks on its own connection, in the same snapshot, while this one checks:
    the database's time overlaps the hashing's.
    """
    events = AuditEvent.objects.order_by("seq").values_list(*EVENT_FIELDS)
    if snapshot is None:
        yield from events.iterator(chunk_size=READ_CHUNK)
        return
    chunks = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce():
        # A server-side cursor on the driver's connection: rows as the driver gives them
        # (details as JSON text, decoded by the checking thread), a chunk in memory at a time.
        sql, params = events.query.sql_with_params()
        connection.ensure_connection()
        with connection.connection.cursor(name="audit_walk") as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(READ_CHUNK):
                chunks.put(batch)
                if stop.is_set():
                    return

    def read():
        try:
            _in_snapshot(snapshot, produce)
        except Exception as error:  # handed to the checking thread, which raises it
            chunks.put(error)
        finally:
            chunks.put(None)

    reader = threading.Thread(target=read, name="audit-event-reader", daemon=True)
    reader.start()
    try:
        while (batch := chunks.get()) is not None:
            if isinstance(batch, Exception):
                raise batch
            yield from batch
    finally:
        stop.set()
        while reader.is_alive():  # let it see `stop` rather than block on a full queue
            with suppress(queue.Empty):
                chunks.get(timeout=0.1)


# --- what the events explain ---------------------------------------------------------------


def chunks(queryset):
    """Yield lists of rows of `queryset` (ordered by pk), CHUNK at a time: how an explainer
    reads its subjects, in flat memory."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def within(field, span):
    """Filter arguments for `field` between span's first and last (a foreign key has no range)."""
    return {f"{field}__gte": span[0], f"{field}__lte": span[1]}


def plain_rows(queryset):
    """The rows of a values_list() of plain columns (no conversion needed), straight from the
    cursor: at a million rows, Django's per-row work is most of the cost."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(READ_CHUNK):
            yield from rows


def no_events_of_deleted(field, model, noun):
    """Raise Broken if events name a `model` row that no longer exists: the log keeps no
    foreign key to its subjects, so a row deleted behind the portal's back shows here."""
    orphan = (
        AuditEvent.objects.filter(**{f"{field}__isnull": False})
        .exclude(**{f"{field}__in": model.objects.values("pk")})
        .order_by("seq")
        .values_list(field, "seq")
        .first()
    )
    if orphan is not None:
        pk, seq = orphan
        raise Broken(
            f"the events name {noun} #{pk}, which no longer exists: it was deleted",
            seq=seq,
            **{noun: pk},
        )


# The apps' checks that their rows are what the events about them explain, by the count they
# report (ChainReport's `<name>_checked`): registered by the apps that own the rows, so that the
# log knows no domain table (portal.service_requests.integrity, portal.endpoint_services...).
EXPLAINERS = {}


def explainer(name):
    """Register the decorated function as the check of `name` (requests, services): it raises
    Broken at the first row its events do not explain and returns how many it checked."""

    def register(function):
        EXPLAINERS[name] = function
        return function

    return register


def _checkpoints_expected(path):
    """Raise Broken if checkpoints should exist at `path` by now and do not."""
    if path.exists() or not settings.AUDIT_CHECKPOINTS_REQUIRED:
        return
    first = AuditEvent.objects.order_by("seq").values_list("created_at", flat=True).first()
    grace = timedelta(seconds=10 * settings.AUDIT_CHECKPOINT_EVERY)
    if first is not None and first < timezone.now() - grace:
        raise Broken(
            f"there is no checkpoint file at {path}: it was removed, beat is not writing it, "
            "or this process cannot see it (AUDIT_CHECKPOINT_FILE must name the same file "
            "for beat and the workers)"
        )


def _in_snapshot(snapshot, function):
    """Run `function` on this thread's own connection, in the exported `snapshot`."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            return function()
    finally:
        connection.close()


@contextmanager
def _one_snapshot():
    """Read everything verification reads as of one moment, while the portal goes on writing:
    otherwise an event appended, or a request moved, between two of its reads would look like
    tampering. On PostgreSQL, one REPEATABLE READ transaction, whose snapshot is exported (and
    yielded) for the event reader's thread. Inside a transaction already (a test), or on
    SQLite (where a long read would hold writers off), reads are as they come; yields None.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield None
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        yield cursor.fetchone()[0]


def audit_chain_verify(*, checkpoint_file=None):
    """Verify the whole log, the checkpoints and every row it explains; return a report."""
    path = Path(checkpoint_file or settings.AUDIT_CHECKPOINT_FILE)
    report = ChainReport(ok=True)
    try:
        with _one_snapshot() as snapshot:
            _checkpoints_expected(path)
            ledger = {}
            report.events_checked, report.checkpoints_checked = _walk_chain(path, snapshot, ledger)
            for name, explain in EXPLAINERS.items():
                setattr(report, f"{name}_checked", explain())
            report.rights_checked = grants.explain(
                ledger, lambda message, seq: Broken(message, seq=seq), recheck=snapshot is None
            )
    except Broken as broken:
        report.ok = False
        report.broken_event = broken.seq
        report.broken_request = broken.request
        report.broken_service = broken.service
        report.message = broken.message
    return report


def audit_chain_check():
    """Verify the whole log and keep the outcome for the auditors' page."""
    report = audit_chain_verify()
    previous = ChainCheck.objects.order_by("-id").values_list("message", flat=True).first()
    ChainCheck.objects.create(
        ok=report.ok,
        requests_checked=report.requests_checked,
        services_checked=report.services_checked,
        events_checked=report.events_checked,
        broken_event=report.broken_event,
        broken_request=report.broken_request,
        broken_service=report.broken_service,
        message=str(report),
    )
    if not report.ok:
        log.error("%s", report)
        if previous != str(report):  # once per finding, not every hour while it stands
            mail_admins(
                "The audit log failed verification",
                f"{report}\n\n{settings.SITE_URL}/audit/\n",
                fail_silently=True,  # SMTP down: the banner and the log still say it
            )
    return report
