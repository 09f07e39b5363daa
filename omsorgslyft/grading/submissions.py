"""The grading service's submission log: durable, idempotent, and recoverable after a crash."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from omsorgslyft.db import make_engine

metadata = MetaData()

submission = Table(
    "submission",
    metadata,
    Column("id", String(64), primary_key=True),  # chosen by the sender: the idempotency key
    Column("learner", String(200), nullable=False, index=True),
    Column("module", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    # the nbgrader assignment that graded it: a variant of the module version (kasam-v1-b)
    Column("variant", String(120), nullable=False, server_default=""),
    Column("answers", Text, nullable=False),
    Column("status", String(20), nullable=False),  # mottagen | klar | fel
    Column("score", Float),
    Column("max_score", Float),
    Column("result", Text),  # JSON shown to the learner
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("graded_at", DateTime(timezone=True)),
)

RECEIVED, DONE, FAILED = "mottagen", "klar", "fel"


@dataclass(frozen=True)
class Submission:
    id: str
    learner: str
    module: str
    version: int
    answers: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    received_at: datetime
    variant: str = ""


def _row(row: Any) -> Submission:
    return Submission(
        row.id,
        row.learner,
        row.module,
        row.version,
        json.loads(row.answers),
        row.status,
        json.loads(row.result) if row.result else None,
        row.received_at,
        row.variant or "",
    )


def _add_missing_columns(conn: Connection) -> None:
    """A log written before pools had no ``variant`` column: add it (its module's name)."""
    columns = {c["name"] for c in inspect(conn).get_columns("submission")}
    if "variant" not in columns:
        conn.execute(text("ALTER TABLE submission ADD COLUMN variant VARCHAR(120)"))
        conn.execute(text("UPDATE submission SET variant = module"))


class SubmissionLog:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # the service and queue workers may start at once on a new database: one
                # creates the table, the others wait and find it (PostgreSQL's DDL is
                # transactional)
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                    {"k": "omsorgslyft-grading:schema"},
                )
            metadata.create_all(conn)
            _add_missing_columns(conn)

    def receive(
        self,
        sid: str,
        learner: str,
        module: str,
        version: int,
        answers: dict[str, Any],
        variant: str = "",
    ) -> tuple[Submission, bool]:
        """Store a submission unless ``sid`` is known; returns it and whether it is new."""
        with self.engine.begin() as conn:
            existing = conn.execute(select(submission).where(submission.c.id == sid)).first()
            if existing is not None:
                return _row(existing), False
            values = {
                "id": sid,
                "learner": learner,
                "module": module,
                "version": version,
                "variant": variant or module,
                "answers": json.dumps(answers),
                "status": RECEIVED,
                "received_at": datetime.now(UTC),
            }
            conn.execute(submission.insert().values(**values))
            return _row(conn.execute(select(submission).where(submission.c.id == sid)).one()), True

    def get(self, sid: str) -> Submission | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(submission).where(submission.c.id == sid)).first()
        return _row(row) if row else None

    def pending(self) -> list[Submission]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(submission)
                .where(submission.c.status == RECEIVED)
                .order_by(submission.c.received_at)
            )
            return [_row(r) for r in rows]

    def finish(self, sid: str, status: str, result: dict[str, Any]) -> bool:
        """Record a grade, once: only a submission still ``mottagen`` is finished.

        Returns whether this call finished it (False: another worker already had).
        """
        with self.engine.begin() as conn:
            done = conn.execute(
                update(submission)
                .where(submission.c.id == sid, submission.c.status == RECEIVED)
                .values(
                    status=status,
                    score=result.get("score"),
                    max_score=result.get("max_score"),
                    result=json.dumps(result),
                    graded_at=datetime.now(UTC),
                )
            )
            return bool(done.rowcount)

    def statuses(self, sids: list[str]) -> dict[str, str]:
        """The status of each of ``sids`` that is known (one query)."""
        if not sids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(submission.c.id, submission.c.status).where(submission.c.id.in_(sids))
            )
            return {r.id: r.status for r in rows}

    @contextlib.contextmanager
    def learner_lock(self, learner: str) -> Iterator[None]:
        """Hold the learner's grading lock (PostgreSQL: a session advisory lock).

        Queue workers on any host grade one learner's submissions one at a time, as the
        in-process pool does: nbgrader keeps one submission per (assignment, student) in its
        gradebook and one ``submitted/`` folder per student. The lock lives on a connection
        of its own, so a worker that dies (even by SIGKILL) releases it with its connection.
        SQLite has one machine and no such lock: there it is a no-op.
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            key = {"k": f"omsorgslyft-grading:{learner}"}
            conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), key)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
                conn.commit()

    def for_learner(self, learner: str) -> list[Submission]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(submission)
                .where(submission.c.learner == learner)
                .order_by(submission.c.received_at)
            )
            return [_row(r) for r in rows]
