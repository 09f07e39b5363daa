"""The records database (roster, module versions, import log), and the read-only sources
through :class:`~omsorgslyft.records.sources.SourceReader`.

The roster tables are the records service's own. Grades are read, never written, from the
nbgrader gradebook and the grading service's submission log; "started" comes from the learn
service's answer table (:mod:`omsorgslyft.records.sources`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    select,
)

from omsorgslyft.db import make_engine, upsert
from omsorgslyft.records.model import Employee, ModuleVersion
from omsorgslyft.records.sources import SourceReader, Sources, _has_column

__all__ = ["ImportPlan", "RecordsStore", "Sources"]

metadata = MetaData()

employee = Table(
    "employee",
    metadata,
    Column("number", String(200), primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("first_name", String(200), nullable=False),
    Column("last_name", String(200), nullable=False),
    Column("email", String(200), nullable=False),
    Column("unit", String(200), nullable=False, index=True),
    Column("role", String(200), nullable=False),
    Column("start", Date, nullable=False),
    Column("end", Date),
    Column("active", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_at", DateTime(timezone=True)),
    # the units this person manages, one per line (the roster's "chef för enhet")
    Column("manages", String(4000)),
)

roster_import = Table(
    "roster_import",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("filename", String(300), nullable=False),
    Column("imported_by", String(200), nullable=False),
    Column("added", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("deactivated", Integer, nullable=False),
    Column("reactivated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
)

module_version = Table(
    "module_version",
    metadata,
    Column("module", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", String(300), nullable=False),
    Column("released_on", Date, nullable=False),
)

erasure = Table(
    "erasure",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("done_at", DateTime(timezone=True), nullable=False),
    Column("pseudonym", String(200), nullable=False),
    Column("mode", String(30), nullable=False),
    Column("done_by", String(200), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _employee(row: Any) -> Employee:
    return Employee(
        number=row.number,
        username=row.username,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        unit=row.unit,
        role=row.role,
        start=row.start,
        end=row.end,
        active=row.active,
        manages=tuple(u for u in (row.manages or "").split("\n") if u),
    )


FIELDS = (
    "username",
    "first_name",
    "last_name",
    "email",
    "unit",
    "role",
    "start",
    "end",
    "manages",
)


def _column_value(e: Employee, name: str) -> Any:
    value = getattr(e, name)
    return "\n".join(value) if name == "manages" else value


@dataclass
class ImportPlan:
    """What an import would change (a dry run shows it; applying it makes it so)."""

    added: list[Employee] = field(default_factory=list)
    changed: list[tuple[Employee, Employee]] = field(default_factory=list)  # (before, after)
    deactivated: list[Employee] = field(default_factory=list)
    reactivated: list[Employee] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # ended longer ago than the retention period: not brought back
    conflicts: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.deactivated) + len(self.reactivated)

    def summary(self) -> str:
        return (
            f"{len(self.added)} nya, {len(self.changed)} ändrade, "
            f"{len(self.deactivated)} avslutade, {len(self.reactivated)} återaktiverade, "
            f"{self.unchanged} oförändrade"
            + (
                f", {self.skipped} slutade före gallringstiden och hoppades över"
                if self.skipped
                else ""
            )
        )


class RecordsStore(SourceReader):
    def __init__(self, url: str, sources: Sources | None = None) -> None:
        self.engine: Engine = make_engine(url)
        metadata.create_all(self.engine)
        if not _has_column(self.engine, "employee", "manages"):
            # a records database from before managers came from the roster
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE employee ADD COLUMN manages VARCHAR(4000)")
        SourceReader.__init__(self, self.engine, url, sources)

    # -- roster -------------------------------------------------------------------------
    def employees(self, include_inactive: bool = True) -> list[Employee]:
        # the columns of an Employee only, as plain driver tuples: SQLAlchemy's row
        # processing (dates from SQLite's text, the two timestamps) cost more than the query
        c = employee.c
        query = select(
            c.number,
            c.username,
            c.first_name,
            c.last_name,
            c.email,
            c.unit,
            c.role,
            c.start,
            c.end,
            c.active,
            c.manages,
        ).order_by(c.unit, c.last_name)
        if not include_inactive:
            query = query.where(c.active.is_(True))
        with self.engine.connect() as conn:
            rows = conn.execute(query).cursor.fetchall()
        day = _driver_date
        return [
            Employee(
                number,
                username,
                first_name,
                last_name,
                email,
                unit,
                role,
                day(start),
                None if end is None else day(end),
                bool(active),
                tuple(u for u in manages.split("\n") if u) if manages else (),
            )
            for number, username, first_name, last_name, email, unit, role, start, end, active, manages in rows
        ]

    def employee_by_username(self, username: str) -> Employee | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(employee).where(employee.c.username == username)).first()
        return _employee(row) if row else None

    def managers(self, today: date) -> dict[str, tuple[str, ...]]:
        """username -> the units they manage, for everyone employed ``today`` who manages one."""
        query = select(employee).where(employee.c.active.is_(True), employee.c.manages != "")
        with self.engine.connect() as conn:
            people = [_employee(r) for r in conn.execute(query)]
        return {e.username: e.manages for e in people if e.manages and e.employed_on(today)}

    def employee_by_number(self, number: str) -> Employee | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(employee).where(employee.c.number == number)).first()
        return _employee(row) if row else None

    def plan_import(
        self, incoming: Iterable[Employee], ended_before: date | None = None
    ) -> ImportPlan:
        """Compare a roster file with the database. People whose employment ended before
        ``ended_before`` (the retention limit) are skipped, so an import never brings back
        someone the retention rule has already pseudonymised."""
        current = {e.number: e for e in self.employees()}
        by_username = {e.username: e.number for e in current.values()}
        plan = ImportPlan()
        seen: set[str] = set()
        for new in incoming:
            seen.add(new.number)
            if ended_before and new.end and new.end < ended_before and new.number not in current:
                plan.skipped += 1
                continue
            other = by_username.get(new.username)
            if other is not None and other != new.number:
                plan.conflicts.append(
                    f"Användarnamnet ”{new.username}” (anställningsnummer {new.number}) "
                    f"tillhör redan anställningsnummer {other}."
                )
            old = current.get(new.number)
            if old is None:
                plan.added.append(new)
            elif not old.active:
                plan.reactivated.append(new)
            elif any(getattr(old, f) != getattr(new, f) for f in FIELDS):
                plan.changed.append((old, new))
            else:
                plan.unchanged += 1
        plan.deactivated = [e for n, e in current.items() if n not in seen and e.active]
        return plan

    def apply_import(self, plan: ImportPlan, filename: str, by: str) -> None:
        """Make ``plan`` so, in one transaction (an import is all or nothing)."""
        if plan.conflicts:
            raise ValueError("\n".join(plan.conflicts))
        now = _now()
        with self.engine.begin() as conn:
            for e in plan.deactivated:
                conn.execute(
                    employee.update()
                    .where(employee.c.number == e.number)
                    .values(active=False, deactivated_at=now, updated_at=now)
                )
            for e in [*plan.added, *plan.reactivated, *(new for _, new in plan.changed)]:
                upsert(
                    conn,
                    employee,
                    {
                        "number": e.number,
                        **{f: _column_value(e, f) for f in FIELDS},
                        "active": True,
                        "updated_at": now,
                        "deactivated_at": None,
                    },
                    ["number"],
                )
            conn.execute(
                roster_import.insert().values(
                    imported_at=now,
                    filename=filename[:300],
                    imported_by=by,
                    added=len(plan.added),
                    changed=len(plan.changed),
                    deactivated=len(plan.deactivated),
                    reactivated=len(plan.reactivated),
                    unchanged=plan.unchanged,
                )
            )

    def imports(self, limit: int = 10) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(roster_import).order_by(roster_import.c.id.desc()).limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    # -- module versions ----------------------------------------------------------------
    def note_versions(self, current: Iterable[tuple[str, str, int]], today: date) -> None:
        """Remember the day each (module, title, version) was first seen as current."""
        with self.engine.begin() as conn:
            known = {(r.module, r.version) for r in conn.execute(select(module_version))}
            for module, title, version in current:
                if (module, version) not in known:
                    conn.execute(
                        module_version.insert().values(
                            module=module, version=version, title=title, released_on=today
                        )
                    )

    def versions(self) -> dict[str, ModuleVersion]:
        """The current (highest) version of each module."""
        out: dict[str, ModuleVersion] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(module_version).order_by(module_version.c.version)):
                out[r.module] = ModuleVersion(r.module, r.title, r.version, r.released_on)
        return out


def _driver_date(value: Any) -> date:
    """A date from either driver: SQLite gives text, PostgreSQL a date."""
    return value if isinstance(value, date) else date.fromisoformat(value)
