"""The records database (roster, module versions, import log) and read-only sources.

The roster tables are the records service's own. Grades are read, never written, from the
nbgrader gradebook and the grading service's submission log; "started" comes from the learn
service's answer table. The reflection table is never touched here.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
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
    create_engine,
    inspect,
    select,
    type_coerce,
)

from omsorgslyft.db import make_engine, upsert
from omsorgslyft.records.gradebook import ModuleScores, Scores, gradebook_scores, per_module
from omsorgslyft.records.model import Attempt, Employee, ModuleVersion

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


@dataclass(frozen=True)
class Sources:
    """Where the read-only inputs live (each may be a different database)."""

    submissions_url: str
    gradebook_url: str = ""
    answers_url: str = ""


class RecordsStore:
    def __init__(self, url: str, sources: Sources | None = None) -> None:
        self.engine: Engine = make_engine(url)
        metadata.create_all(self.engine)
        if not _has_column(self.engine, "employee", "manages"):
            # a records database from before managers came from the roster
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE employee ADD COLUMN manages VARCHAR(4000)")
        self.sources = sources
        self._engines: dict[str, Engine] = {url: self.engine}
        self._lock = threading.Lock()

    def source(self, url: str, table: str | None = None) -> Engine | None:
        """A read-only engine for a source database; None while it (or ``table`` in it, since
        one PostgreSQL database may hold every service's tables) does not exist yet."""
        with self._lock:  # sources are read from several threads at once
            return self._source(url, table)

    def _source(self, url: str, table: str | None) -> Engine | None:
        if url not in self._engines:
            if url.startswith("sqlite:///"):
                path = Path(url.removeprefix("sqlite:///"))
                if not path.is_file():
                    return None
                self._engines[url] = create_engine(
                    f"sqlite:///file:{path}?mode=ro&uri=true",
                    connect_args={"timeout": 30, "check_same_thread": False},
                )
            else:
                self._engines[url] = make_engine(url)
        engine = self._engines[url]
        return engine if _has_table(engine, url, table) else None

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()

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

    # -- read-only sources --------------------------------------------------------------
    def attempts(
        self, pass_marks: dict[str, int], learner: str | None = None
    ) -> dict[tuple[str, str], list[Attempt]]:
        """Every graded attempt per (learner, module), oldest first (see
        :meth:`attempts_by_learner`)."""
        out: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
        for name, modules in self.attempts_by_learner(pass_marks, learner).items():
            for module, items in modules.items():
                out[(name, module)] = items
        return out

    def attempts_by_learner(
        self, pass_marks: dict[str, int], learner: str | None = None
    ) -> dict[str, dict[str, list[Attempt]]]:
        """learner -> module -> every graded attempt, oldest first.

        An attempt of any variant of a module (``kasam-v1-b``) is an attempt of that module:
        the log keeps the module's id and, apart, the variant that graded it.

        History and versions come from the submission log, whose scores are what nbgrader
        put in the gradebook when it autograded (:meth:`logged_attempts`). What changed in
        the gradebook after that (manual grades and extra credit given in formgrader) is
        read from the gradebook (:meth:`corrections`, in another thread while the log is
        read) and replaces the score of the submission it belongs to (:meth:`correct`):
        same module, same variant, and received when the gradebook's submission was.
        Passed means the score reaches the module's pass mark.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradebook") as pool:
            reading = pool.submit(self.corrections, learner)
            out = self.logged_attempts(pass_marks, learner)
            corrections = reading.result()
        self.correct(out, corrections, pass_marks)
        return out

    def corrections(self, learner: str | None = None) -> ModuleScores:
        """The gradebook's hand-graded scores, by (student, module)."""
        assert self.sources is not None
        return per_module(self.gradebook_scores(learner)) if self.sources.gradebook_url else {}

    def logged_attempts(
        self, pass_marks: dict[str, int], learner: str | None = None
    ) -> dict[str, dict[str, list[Attempt]]]:
        """learner -> module -> every attempt with the score the submission log holds.

        One pass over the log: consecutive rows of one learner and module share a list,
        a timestamp is parsed only on SQLite (where it is text), and the received times
        are left for :meth:`correct`, which needs them for a few (learner, module) only.
        """
        from omsorgslyft.grading.submissions import DONE, submission

        assert self.sources is not None
        out: dict[str, dict[str, list[Attempt]]] = {}
        source = self.source(self.sources.submissions_url, "submission")
        if source is None:
            return out
        done = [submission.c.status == DONE]
        if learner is not None:
            done.append(submission.c.learner == learner)
        # timestamps as the database gives them: parsed below only where they are needed
        query = select(
            submission.c.learner,
            submission.c.module,
            submission.c.version,
            self.variant_column(source),
            submission.c.score,
            submission.c.max_score,
            type_coerce(submission.c.graded_at, String).label("graded_at"),
        ).where(*done)
        with source.connect() as conn:
            # plain driver tuples: SQLAlchemy's row objects cost more than the query
            rows = conn.execute(query).cursor.fetchall()
        parse = datetime.fromisoformat if rows and isinstance(rows[0][6], str) else None
        new = Attempt._make
        name, module_ = None, None
        mine: dict[str, list[Attempt]] = {}
        items: list[Attempt] = []
        for learner_, module, version, variant, score, max_score, graded in rows:
            if learner_ != name:
                name, module_ = learner_, None
                mine = out.setdefault(learner_, {})
            if module != module_:
                module_ = module
                items = mine.setdefault(module, [])
            mark = pass_marks.get(module, 100)
            score, max_score = score or 0.0, max_score or 0.0
            items.append(
                new(
                    (
                        learner_,
                        module,
                        version,
                        score,
                        max_score,
                        bool(max_score) and 100.0 * score / max_score >= mark,
                        graded if parse is None or isinstance(graded, datetime) else parse(graded),
                        variant or module,
                    )
                )
            )
        for mine in out.values():  # oldest first (most people have one attempt)
            for items in mine.values():
                if len(items) > 1:
                    items.sort(key=_graded_at)
        return out

    def correct(
        self,
        out: dict[str, dict[str, list[Attempt]]],
        corrections: ModuleScores,
        pass_marks: dict[str, int],
    ) -> set[str]:
        """Replace in ``out`` the scores the gradebook changed; the learners whose
        attempts changed. Each gradebook submission is the attempt of the same variant
        received at the gradebook's timestamp (nbgrader keeps one per student and
        assignment)."""
        from omsorgslyft.grading.submissions import DONE, submission

        assert self.sources is not None
        keys = {k for k in corrections if k[1] in out.get(k[0], {})}
        source = self.source(self.sources.submissions_url, "submission")
        if not keys or source is None:
            return set()
        received: dict[tuple[str, str], list[tuple[datetime, Any]]] = defaultdict(list)
        learners = sorted({k[0] for k in keys})
        with source.connect() as conn:
            for i in range(0, len(learners), 500):
                query = select(
                    submission.c.learner,
                    submission.c.module,
                    type_coerce(submission.c.received_at, String),
                    type_coerce(submission.c.graded_at, String),
                ).where(
                    submission.c.status == DONE, submission.c.learner.in_(learners[i : i + 500])
                )
                for learner_, module, got, graded in conn.execute(query).cursor.fetchall():
                    if (learner_, module) in keys:
                        received[(learner_, module)].append((_moment(graded), got))
        changed: set[str] = set()
        for key in keys:
            items = out[key[0]][key[1]]
            # in the attempts' order: oldest graded first
            stamps = [got for _, got in sorted(received[key], key=lambda pair: pair[0])]
            mark = pass_marks.get(key[1], 100)
            for assignment, stamp, score, max_score in corrections[key]:
                for i in range(min(len(stamps), len(items)) - 1, -1, -1):
                    if items[i].variant == assignment and _same_moment(_moment(stamps[i]), stamp):
                        passed = bool(max_score) and 100.0 * score / max_score >= mark
                        items[i] = items[i]._replace(
                            score=score, max_score=max_score, passed=passed
                        )
                        changed.add(key[0])
                        break
        return changed

    def variant_column(self, log: Engine) -> Any:
        """The submission log's ``variant`` column, labelled so; a log from before question
        pools (not yet upgraded by the grading service) has none, and its module's id is
        its variant."""
        from omsorgslyft.grading.submissions import submission

        if _has_column(log, "submission", "variant"):
            return submission.c.variant.label("variant")
        return submission.c.module.label("variant")

    def gradebook_scores(self, learner: str | None = None, everything: bool = False) -> Scores:
        """(student, assignment) -> (timestamp, score, max score) from nbgrader's gradebook.

        Only the submissions a person has graded by hand or given extra credit in
        formgrader: the autograded scores are in the submission log already (the grading
        service copied them from the gradebook), and summing two million grade rows is
        what makes ``nbgrader export`` slow. ``everything`` sums every submission.
        """
        assert self.sources is not None
        source = self.source(self.sources.gradebook_url, "submitted_assignment")
        if source is None:
            return {}
        return gradebook_scores(source, learner, everything)

    def started(self, learner: str | None = None) -> dict[tuple[str, str], set[int]]:
        """(learner, module) -> versions with saved answers (never reflections)."""
        out: dict[tuple[str, str], set[int]] = defaultdict(set)
        for name, modules in self.started_by_learner(learner).items():
            for module, versions in modules.items():
                out[(name, module)] = versions
        return out

    def started_by_learner(self, learner: str | None = None) -> dict[str, dict[str, set[int]]]:
        """learner -> module -> versions with saved answers (never reflections)."""
        from omsorgslyft.learn.store import answer

        out: dict[str, dict[str, set[int]]] = {}
        if self.sources is None or not self.sources.answers_url:
            return out
        query = select(answer.c.learner, answer.c.module, answer.c.version).distinct()
        if learner is not None:
            query = query.where(answer.c.learner == learner)
        source = self.source(self.sources.answers_url, "answer")
        if source is None:
            return out
        with source.connect() as conn:
            if conn.dialect.name == "postgresql":
                # PostgreSQL's default 4 MB make the distinct (of every learner's answers)
                # spill to disk; for this read only
                conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")
            rows = conn.execute(query).cursor.fetchall()
        for learner_, module, version in rows:
            mine = out.get(learner_)
            if mine is None:
                mine = out[learner_] = {}
            versions = mine.get(module)
            if versions is None:
                mine[module] = {version}
            else:
                versions.add(version)
        return out


_TABLES: set[tuple[str, str | None]] = set()
_COLUMNS: set[tuple[str, str, str]] = set()


def _has_column(engine: Engine, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (asked until it has: its owner may add it later)."""
    key = (str(engine.url), table, column)
    if key in _COLUMNS:
        return True
    if column in {c["name"] for c in inspect(engine).get_columns(table)}:
        _COLUMNS.add(key)
        return True
    return False


def _has_table(engine: Engine, url: str, table: str | None = None) -> bool:
    """Whether the source at ``url`` has been created by its owner yet (asked until it has)."""
    if (url, table) in _TABLES:
        return True
    names = set(inspect(engine).get_table_names())
    if (table in names) if table else (names & {"submission", "grade", "answer"}):
        _TABLES.add((url, table))
        return True
    return False


def _driver_date(value: Any) -> date:
    """A date from either driver: SQLite gives text, PostgreSQL a date."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def _graded_at(attempt: Attempt) -> datetime:
    return attempt.graded_at


def _moment(value: Any) -> datetime:
    """A timestamp from either driver: SQLite gives text, PostgreSQL a datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _same_moment(a: datetime, b: datetime | None) -> bool:
    if b is None:
        return False
    a = a.replace(tzinfo=None) if a.tzinfo is None else a.astimezone(UTC).replace(tzinfo=None)
    b = b.replace(tzinfo=None) if b.tzinfo is None else b.astimezone(UTC).replace(tzinfo=None)
    return abs((a - b).total_seconds()) < 1.0
