"""Rights as facts: every row of a table that grants a right is sealed in the log as written.

Who may approve, decide for a team, act as someone's delegate, call the API or use the admin
is a row: a user's flags, a group membership, a team membership, a delegation, a token, an
identity. Each app that keeps such a table registers it here (`track`), and from then on every
write of one of its rows through Django, however it is made (a sign-in, the admin, a service, a
shell), appends a `right_recorded` event holding the row's record as it now stands (or None
once deleted): what the right is, whose it is (`holder`), who wrote it, through what.

A row written behind Django's back (raw SQL, a bulk update) appends nothing; verification
(`explain`) compares every current row with the record the log last holds for it and names
the first it cannot explain. The replay (`history`) tells what someone held at a moment in the
log, which the worker asks of the approvers of a request before it acts on their approvals.

The log knows no domain table: apps register their tables, as they register explainers.
"""

import contextvars
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models.fields.json import KT
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_delete

from portal.audit import chain
from portal.audit.actions import Action

RIGHT = Action.RIGHT_RECORDED.value
# Where a write came from when no caller said: a shell, a script, a management command.
DIRECT = "direct"
# The source of the records sealed once, for rows that existed before rights were recorded.
UPGRADE = "held at upgrade"

_acting = contextvars.ContextVar("grants_acting", default=None)


@contextmanager
def acting(*, actor=None, source):
    """Name who writes rights rows inside the block, and through what (`source`: `admin`,
    `portal`, `provider`, `scim`...). `actor` may be a request's lazy user, read when the
    first event is written: a sign-in sets it on the way."""
    token = _acting.set((actor, source))
    try:
        yield
    finally:
        _acting.reset(token)


@contextmanager
def by(actor):
    """Name `actor` as who writes rights rows inside the block, through whatever the caller
    acts through: what a service that grants on someone's word (a delegation, a token) says."""
    _actor, source = _acting.get() or (None, DIRECT)
    with acting(actor=actor, source=source):
        yield


def _who():
    actor, source = _acting.get() or (None, DIRECT)
    if callable(actor) and not hasattr(actor, "_meta"):
        actor = actor()
    if actor is not None and not (
        getattr(actor, "is_authenticated", False) and hasattr(actor, "_meta")
    ):
        actor = None  # nobody signed in, or not a person (the provider's SCIM client)
    return actor, source


def stamp(value):
    """A moment as the records hold it: UTC ISO text, None for none."""
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Table:
    """How one table's rows are recorded.

    `record(row)` is what the right is: plain JSON values read from the row's own columns (no
    query), which verification compares; `holder(row)` the id of the user whose right it is;
    `label(row)` what a reader is told about it (names, read once per write).
    """

    name: str
    model: type
    record: Callable
    holder: Callable
    label: Callable = lambda row: {}
    fields: tuple = ()

    def key(self, row):
        return str(row.pk)


TABLES: dict[str, Table] = {}


def track(model, *, name, record, holder, label=None, fields=(), signals=True):
    """Record every write of `model`'s rows through Django, as `name` (see Table).

    `fields` are the columns `record` reads: a save whose update_fields names none of them
    (a user's last_login) records nothing.
    """
    table = Table(name, model, record, holder, label or (lambda row: {}), tuple(fields))
    TABLES[name] = table
    if not signals:
        return table
    uid = f"grants:{name}"
    post_init.connect(_remember(table), sender=model, weak=False, dispatch_uid=uid)
    post_save.connect(_saved(table), sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(_deleted(table), sender=model, weak=False, dispatch_uid=uid)
    return table


def _current(table, row):
    if any(field in row.get_deferred_fields() for field in table.fields):
        return None  # not read: reading it would cost a query per row; unknown, so recorded
    return table.record(row)


def _remember(table):
    def receiver(sender, instance, **kwargs):
        instance._grant_record = _current(table, instance) if instance.pk is not None else None

    return receiver


def _saved(table):
    def receiver(sender, instance, created, update_fields=None, raw=False, **kwargs):
        if raw:
            return  # loaddata: a fixture is not a grant; verification names what it wrote
        if update_fields is not None and not set(update_fields) & set(table.fields):
            return
        now = table.record(instance)
        if created or now != getattr(instance, "_grant_record", None):
            write(table, instance, now)
        instance._grant_record = now

    return receiver


def _deleted(table):
    def receiver(sender, instance, **kwargs):
        write(table, instance, None)

    return receiver


def write(table, row, record, *, source=None):
    """Append the event that `row` of `table` now stands as `record` (None: deleted)."""
    actor, acting_source = _who()
    with transaction.atomic(savepoint=False):
        chain.append(
            action=RIGHT,
            actor=actor,
            details={
                "table": table.name,
                "key": table.key(row),
                "holder": table.holder(row),
                "row": record,
                "label": table.label(row),
                "source": source or acting_source,
            },
        )


# --- group memberships: a many-to-many, whose rows Django writes in bulk --------------------


def track_members(user_model, *, name, label):
    """Record the rows of `user_model.groups` (a user in a group is a role).

    Django sends no save or delete signal for a many-to-many's own rows: what is heard is
    m2m_changed (add, remove, clear, from either side) and the deletion of a user or a group,
    whose rows go with it.
    """
    from django.contrib.auth.models import Group

    through = user_model.groups.through
    table = track(
        through,
        name=name,
        record=lambda row: {"user": row.user_id, "group": row.group_id},
        holder=lambda row: row.user_id,
        label=label,
        signals=False,
    )

    def rows(users=None, groups=None):
        found = through.objects.all()
        if users is not None:
            found = found.filter(user_id__in=users)
        if groups is not None:
            found = found.filter(group_id__in=groups)
        return found.select_related("user", "group")

    def changed(sender, instance, action, reverse, pk_set, **kwargs):
        mine, theirs = [instance.pk], sorted(pk_set or ())
        users, groups = (theirs, mine) if reverse else (mine, theirs)
        if action == "post_add" and pk_set:
            for row in rows(users, groups):
                write(table, row, table.record(row))
        elif action == "pre_remove" and pk_set:
            for row in rows(users, groups):
                write(table, row, None)
        elif action == "pre_clear":
            for row in rows(groups=mine) if reverse else rows(users=mine):
                write(table, row, None)

    def deleting(sender, instance, **kwargs):
        for row in rows(groups=[instance.pk]) if sender is Group else rows(users=[instance.pk]):
            write(table, row, None)

    m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=f"grants:{name}")
    for model in (user_model, Group):
        pre_delete.connect(
            deleting, sender=model, weak=False, dispatch_uid=f"grants:{name}:{model}"
        )
    return table


# --- verification ----------------------------------------------------------------------------


def observe(ledger, details, seq):
    """Keep, in `ledger`, the newest record of the row a right_recorded event names."""
    ledger[(details["table"], details["key"])] = (seq, details["row"])


def explain(ledger, broken, *, recheck=False):
    """Check every current row of every tracked table against `ledger` (the newest record of
    each, as the chain's walk found them); raise `broken(message, seq)` at the first the log
    does not explain. Return how many rows were checked.

    `recheck`: the tables are read after the walk, not in its snapshot (SQLite, or inside a
    transaction), so a right written meanwhile (a sign-in) is asked of the log once more,
    as it stands now, before it is called tampering.
    """
    checked = 0
    for table in TABLES.values():
        for row in table.model.objects.order_by("pk").iterator(chunk_size=2000):
            checked += 1
            key = table.key(row)
            seq, recorded = ledger.pop((table.name, key), (None, None))
            record = table.record(row)
            if recorded == record or (recheck and _newest(table.name, key) == record):
                continue
            if recorded is None:
                raise broken(
                    f"{_describe(table, row)} is in the database, but no event records it: "
                    "it was written behind the portal's back",
                    seq,
                )
            raise broken(
                f"{_describe(table, row)} is {_difference(recorded, record)}, not what "
                f"event #{seq} recorded: it was changed behind the portal's back",
                seq,
            )
    for (name, key), (seq, recorded) in sorted(ledger.items(), key=lambda item: item[1][0]):
        if name in TABLES and recorded is not None:
            if recheck and _newest(name, key) is None:
                continue
            raise broken(
                f"event #{seq} records {name} #{key} ({_fields(recorded)}), which is no longer "
                "in the database: it was deleted behind the portal's back",
                seq,
            )
    return checked


def _newest(name, key):
    """The newest record the log holds of row `key` of table `name` (None: none, or deleted)."""
    from portal.audit.models import AuditEvent

    events = AuditEvent.objects.filter(action=RIGHT)
    if connection.vendor == "postgresql":
        # As audit_event_right_key_idx reads them (text), so that it finds the row at once.
        events = events.alias(table=KT("details__table"), key=KT("details__key")).filter(
            table=name, key=key
        )
    else:  # SQLite compares the JSON values (its text extraction would not match "1")
        events = events.filter(details__table=name, details__key=key)
    return events.order_by("-seq").values_list("details__row", flat=True).first()


def _describe(table, row):
    return f"{table.name} #{table.key(row)} ({_fields(table.record(row))})"


def _fields(record):
    return ", ".join(f"{name}={value}" for name, value in record.items())


def _difference(recorded, record):
    changed = [name for name in record if recorded.get(name) != record[name]]
    return ", ".join(f"{name}={record[name]} (recorded {recorded.get(name)})" for name in changed)


def explains(name, row):
    """Whether the newest record the log holds of `row` (of table `name`) is what it is now:
    one indexed read, for a row about to be used (an API token at each call)."""
    table = TABLES[name]
    recorded = _newest(name, table.key(row))
    return recorded is not None and recorded == table.record(row)


def newest_source(name, row):
    """Through what the newest record of `row` (of table `name`) was written, or None."""
    from portal.audit.models import AuditEvent

    return (
        AuditEvent.objects.filter(
            action=RIGHT, details__table=name, details__key=TABLES[name].key(row)
        )
        .order_by("-seq")
        .values_list("details__source", flat=True)
        .first()
    )


# --- replay: what someone held at a moment of the log ------------------------------------------


def history(holders):
    """The right_recorded events about `holders` (user ids), and about the groups (whose
    names are the roles), in order: (seq, created_at, table, key, row, source)."""
    from django.db.models import Q

    from portal.audit.models import AuditEvent

    rows = (
        AuditEvent.objects.filter(action=RIGHT)
        .filter(Q(details__holder__in=sorted(holders)) | Q(details__table="group"))
        .order_by("seq")
        .values_list("seq", "created_at", "details")
    )
    return [
        (seq, at, details["table"], details["key"], details["row"], details["source"])
        for seq, at, details in rows
    ]


def held_at(events, seq):
    """{(table, key): record} of the rows standing just after event #`seq`, from `events`
    (history()); a row sealed at the upgrade counts from the log's start."""
    state = {}
    for event_seq, _at, table, key, row, source in events:
        if event_seq > seq and source != UPGRADE:
            break
        state[(table, key)] = row
    return {key: row for key, row in state.items() if row is not None}
