"""The reminder log in the records database: each reminder is claimed once, before it is
sent.

Table ``reminder``: one row per reminder (kind, recipient's employee number, module,
period), unique on those four. A run claims a message's reminders with
``INSERT … ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL): a row that is there already
belongs to another run or process, and that reminder is left out. After the SMTP relay has
accepted the message the rows are marked ``sent``; if the relay refuses it or cannot be
reached, the rows are deleted again (released), so the next run tries again.

A crash between claim and send leaves rows ``claimed``: those reminders are never sent
(never twice is worth more than once for sure here; the next weekly reminder, or the due
date's overdue reminder, comes anyway). The HR page shows them as *inte bekräftat*.

The rows hold who (employee number, address), what (kind, module, period) and when; never
the message's text. ``forget`` removes a person's rows (GDPR erasure).

Table ``reminder_run``: one row per run (day, start, end, counts, the error's kind), for
the HR page's "last sending" and the service's once-a-day schedule.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from omsorgslyft.reminders.plan import WEEKLY, Key, Kind

metadata = MetaData()

CLAIMED = "claimed"
SENT = "sent"

reminder = Table(
    "reminder",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("number", String(200), nullable=False, index=True),  # the recipient's
    Column("module", String(100), nullable=False),
    Column("period", String(40), nullable=False),
    Column("address", String(200), nullable=False),
    Column("message_id", String(300), nullable=False, index=True),
    Column("state", String(10), nullable=False),
    Column("day", Date, nullable=False),  # the run's day (local)
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("kind", "number", "module", "period", name="reminder_once"),
)

reminder_run = Table(
    "reminder_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("by", String(200), nullable=False),
    Column("messages", Integer, nullable=False, default=0),
    Column("sent", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("error", String(300), nullable=False, default=""),  # no personal data
)

#: claims are kept this long (longer than any reminder's period can be ahead of its day)
KEEP_DAYS = 400
CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: Any) -> datetime | None:
    """A stored time as an aware datetime (SQLite gives it back without its zone: UTC)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    """One logged reminder: who, what, when (never the text)."""

    kind: Kind
    number: str
    module: str
    period: str
    address: str
    state: str
    day: date
    claimed_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class Run:
    id: int
    day: date
    started_at: datetime
    finished_at: datetime | None
    by: str
    messages: int
    sent: int
    failed: int
    error: str

    @property
    def ok(self) -> bool:
        return self.finished_at is not None and not self.failed and not self.error


class HasEngine(Protocol):
    @property
    def engine(self) -> Engine: ...


def _engine(where: Engine | HasEngine) -> Engine:
    return where if isinstance(where, Engine) else where.engine


def _create_tables(engine: Engine) -> None:
    """Create the tables if they are missing. Two processes starting at once may both find
    them missing: the one that loses gets "already exists", and then finds them there."""
    for attempt in range(10):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == 9:
                raise
            time.sleep(0.05 * (attempt + 1))  # the other one is still creating them


class ReminderLog:
    def __init__(self, where: Engine | HasEngine) -> None:
        self.engine = _engine(where)
        _create_tables(self.engine)

    # -- claims --------------------------------------------------------------------------
    def claim(self, keys: Iterable[Key], address: str, message_id: str, day: date) -> list[Key]:
        """Claim each of ``keys`` for one message, in one transaction; the ones that are
        claimed already (by an earlier run, or another process right now) are left out."""
        now = _now()
        claimed = []
        with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            for key in keys:
                stmt = (
                    dialect.insert(reminder)
                    .values(
                        kind=key.kind.value,
                        number=key.number,
                        module=key.module,
                        period=key.period,
                        address=address[:200],
                        message_id=message_id[:300],
                        state=CLAIMED,
                        day=day,
                        claimed_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["kind", "number", "module", "period"])
                    .returning(reminder.c.id)
                )
                # a row comes back only if this insert made it (rowcount says -1 on
                # PostgreSQL when there is a RETURNING)
                if conn.execute(stmt).first() is not None:
                    claimed.append(key)
        return claimed

    def mark_sent(self, message_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(reminder)
                .where(reminder.c.message_id == message_id, reminder.c.state == CLAIMED)
                .values(state=SENT, sent_at=_now())
            )

    def release(self, message_id: str) -> None:
        """The message did not go out: its claims go, so the next run tries again."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(reminder).where(
                    reminder.c.message_id == message_id, reminder.c.state == CLAIMED
                )
            )

    def taken(self, keys: Iterable[Key]) -> set[Key]:
        """Which of ``keys`` the log has (sent, or claimed by a run)."""
        wanted = set(keys)
        numbers = sorted({k.number for k in wanted})
        found: set[Key] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(numbers), CHUNK):
                rows = conn.execute(
                    select(
                        reminder.c.kind, reminder.c.number, reminder.c.module, reminder.c.period
                    ).where(reminder.c.number.in_(numbers[i : i + CHUNK]))
                )
                for kind, number, module, period in rows:
                    key = Key(Kind(kind), number, module, period)
                    if key in wanted:
                        found.add(key)
        return found

    def last_weekly(self, since: date) -> dict[tuple[Kind, str, str], date]:
        """(kind, number, module) -> the day of the latest overdue or expired reminder
        claimed on or after ``since``."""
        query = (
            select(reminder.c.kind, reminder.c.number, reminder.c.module, func.max(reminder.c.day))
            .where(reminder.c.kind.in_([k.value for k in WEEKLY]), reminder.c.day >= since)
            .group_by(reminder.c.kind, reminder.c.number, reminder.c.module)
        )
        with self.engine.connect() as conn:
            return {
                (Kind(kind), number, module): day
                for kind, number, module, day in conn.execute(query)
            }

    def entries(self, limit: int = 200) -> list[Entry]:
        """The latest reminders first."""
        query = select(reminder).order_by(reminder.c.claimed_at.desc(), reminder.c.id.desc())
        with self.engine.connect() as conn:
            return [
                Entry(
                    Kind(r.kind),
                    r.number,
                    r.module,
                    r.period,
                    r.address,
                    r.state,
                    r.day,
                    _aware(r.claimed_at) or _now(),
                    _aware(r.sent_at),
                )
                for r in conn.execute(query.limit(limit))
            ]

    def count(self, state: str = SENT) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(reminder).where(reminder.c.state == state)
                ).scalar_one()
            )

    def prune(self, before: date) -> int:
        """Forget claims of days before ``before`` (they can no longer come round again)."""
        with self.engine.begin() as conn:
            done = conn.execute(delete(reminder).where(reminder.c.day < before)).rowcount
            conn.execute(delete(reminder_run).where(reminder_run.c.day < before))
        return int(done)

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, day: date, by: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                reminder_run.insert().values(
                    day=day, started_at=_now(), by=by[:200], messages=0, sent=0, failed=0, error=""
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(self, run: int, messages: int, sent: int, failed: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(reminder_run)
                .where(reminder_run.c.id == run)
                .values(
                    finished_at=_now(),
                    messages=messages,
                    sent=sent,
                    failed=failed,
                    error=error[:300],
                )
            )

    def runs(self, limit: int = 10) -> list[Run]:
        """The latest runs first."""
        query = select(reminder_run).order_by(reminder_run.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                Run(
                    r.id,
                    r.day,
                    _aware(r.started_at) or _now(),
                    _aware(r.finished_at),
                    r.by,
                    r.messages,
                    r.sent,
                    r.failed,
                    r.error,
                )
                for r in conn.execute(query)
            ]


def forget(where: Engine | HasEngine, number: str) -> int:
    """GDPR erasure: delete every reminder row of employee ``number`` (as the recipient of
    a reminder or of a manager's digest). Returns how many rows went."""
    engine = _engine(where)
    _create_tables(engine)
    with engine.begin() as conn:
        return int(conn.execute(delete(reminder).where(reminder.c.number == number)).rowcount)
