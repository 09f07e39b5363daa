"""The read-only sources of competence records: the grading service's submission log,
nbgrader's gradebook (the scores formgrader changed) and the learn service's answer table.

Grades are read, never written; "started" comes from the answer table, whose reflection
table is never touched here. :class:`RecordsStore` reads them through
:class:`SourceReader`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, create_engine, inspect, select, type_coerce

from omsorgslyft.db import make_engine
from omsorgslyft.records.gradebook import ModuleScores, Scores, gradebook_scores, per_module
from omsorgslyft.records.model import Attempt


@dataclass(frozen=True)
class Sources:
    """Where the read-only inputs live (each may be a different database)."""

    submissions_url: str
    gradebook_url: str = ""
    answers_url: str = ""


# learners looked up in one query of :meth:`SourceReader.started_of` (SQLite allows 999
# bound parameters in a statement where it was built so), and the most such queries
# before one read of the whole answer table is cheaper
STARTED_CHUNK = 500
STARTED_CHUNKS = 40


class SourceReader:
    """Engines for the read-only sources, and every read of them."""

    def __init__(self, engine: Engine, url: str, sources: Sources | None) -> None:
        self.sources = sources
        self._engines: dict[str, Engine] = {url: engine}
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
        parsing = bool(rows) and isinstance(rows[0][6], str)  # SQLite gives text
        parse = datetime.fromisoformat
        # tuple.__new__ makes the named tuple without _make's Python frame and length check
        new = tuple.__new__
        kind = Attempt
        name, module_ = None, None
        mine: dict[str, list[Attempt]] = {}
        items: list[Attempt] = []
        mark = 100
        for learner_, module, version, variant, score, max_score, graded in rows:
            if learner_ != name:
                name, module_ = learner_, None
                mine = out.setdefault(learner_, {})
            if module != module_:
                module_ = module
                items = mine.setdefault(module, [])
                mark = pass_marks.get(module, 100)
            if parsing:
                graded = parse(graded)
            score = score or 0.0
            if not max_score:
                max_score = 0.0
                passed = False
            else:
                passed = 100.0 * score / max_score >= mark
            items.append(
                new(
                    kind,
                    (
                        learner_,
                        module,
                        version,
                        score,
                        max_score,
                        passed,
                        graded,
                        variant or module,
                    ),
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

    def started_of(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], set[int]]:
        """(learner, module) -> versions with saved answers, for ``pairs`` only: the few
        records that only saved answers can tell from "ej påbörjad" (see
        :func:`omsorgslyft.records.rules.records_planned`). Looked up through the answer
        table's primary key a chunk at a time; past ``STARTED_CHUNKS`` chunks, one read
        of everything costs less."""
        from omsorgslyft.learn.store import answer

        out: dict[tuple[str, str], set[int]] = {}
        if not pairs or self.sources is None or not self.sources.answers_url:
            return out
        wanted = set(pairs)
        if len({name for name, _ in wanted}) > STARTED_CHUNK * STARTED_CHUNKS:
            for learner_, modules in self.started_by_learner().items():
                for module, versions in modules.items():
                    if (learner_, module) in wanted:
                        out[(learner_, module)] = versions
            return out
        source = self.source(self.sources.answers_url, "answer")
        if source is None:
            return out
        learners = sorted({name for name, _ in wanted})
        with source.connect() as conn:
            for i in range(0, len(learners), STARTED_CHUNK):
                # by learner, the primary key's first column (SQLite reads the whole
                # table for an IN of (learner, module) pairs); other modules dropped here
                query = (
                    select(answer.c.learner, answer.c.module, answer.c.version)
                    .where(answer.c.learner.in_(learners[i : i + STARTED_CHUNK]))
                    .distinct()
                )
                for learner_, module, version in conn.execute(query).cursor.fetchall():
                    key = (learner_, module)
                    if key not in wanted:
                        continue
                    have = out.get(key)
                    if have is None:
                        out[key] = {version}
                    else:
                        have.add(version)
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
