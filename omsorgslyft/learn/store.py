"""The answer store: every change a learner makes, saved server-side as it happens.

Keyed by learner, module and module version, so a reload, a culled kernel or another
device continues where the learner left off. Private reflections live in their own table
that nothing outside the learner's own page reads.

Page sessions are the capability a module page's kernel holds. A session lasts a fixed
time from when the page was opened (``session_lifetime``), and ends early when its kernel
stops (``end_session``). Spent and expired sessions are removed (``prune``), except each
learner's first one per module version: the records layer reads its ``created_at`` (when
a learner first opened the module), so that row is kept with its token hash destroyed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omsorgslyft.db import make_engine, upsert

metadata = MetaData()

answer = Table(
    "answer",
    metadata,
    Column("learner", String(200), primary_key=True),
    Column("module", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kind", String(20), primary_key=True),  # svar | ovning | dialog
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

reflection = Table(
    "reflection",
    metadata,
    Column("learner", String(200), primary_key=True),
    Column("module", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("text", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

page_session = Table(
    "page_session",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("learner", String(200), nullable=False, index=True),
    Column("module", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

result = Table(
    "result",
    metadata,
    Column("submission_id", String(64), primary_key=True),
    Column("learner", String(200), nullable=False, index=True),
    Column("module", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("details", Text, nullable=False),  # JSON: per question
    Column("graded_at", DateTime(timezone=True), nullable=False),
)


#: the attempts of a knowledge check: which variant each asks and the seed of its order
attempt = Table(
    "attempt",
    metadata,
    Column("learner", String(200), primary_key=True),
    Column("module", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("variant", String(10), nullable=False),
    Column("seed", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: a spent session's token hash starts with this (a SHA-256 hex digest never does)
SPENT = "-"


def _aware(when: datetime) -> datetime:
    """SQLite gives back naive datetimes: ours are always UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PageSession:
    learner: str
    module: str
    version: int


SessionState = Literal["valid", "expired", "unknown"]


class AnswerStore:
    """Answers, reflections, page sessions and results for the learn service.

    ``session_lifetime``: how long a page session's token is valid after the page was
    opened (None: until its kernel ends it).
    """

    def __init__(
        self, url: str, engine: Engine | None = None, session_lifetime: timedelta | None = None
    ) -> None:
        self.engine = engine or make_engine(url)
        self.session_lifetime = session_lifetime
        metadata.create_all(self.engine)

    # page sessions: a capability for one learner's kernel, for one module version
    def open_session(self, learner: str, module: str, version: int) -> str:
        """A new token for a page's kernel (the learner's spent and expired ones go)."""
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            self._prune(conn, learner)
            conn.execute(
                page_session.insert().values(
                    token_hash=_hash(token),
                    learner=learner,
                    module=module,
                    version=version,
                    created_at=_now(),
                )
            )
        return token

    def session(self, token: str) -> PageSession | None:
        """The session of a valid token (None if unknown, spent or expired)."""
        state, found = self.check_session(token)
        return found if state == "valid" else None

    def check_session(self, token: str) -> tuple[SessionState, PageSession | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(page_session).where(page_session.c.token_hash == _hash(token))
            ).first()
        if row is None:
            return "unknown", None
        if (
            self.session_lifetime is not None
            and _aware(row.created_at) + self.session_lifetime <= _now()
        ):
            return "expired", None
        return "valid", PageSession(row.learner, row.module, row.version)

    def end_session(self, token: str) -> None:
        """The token's kernel has stopped: the token opens nothing any more."""
        with self.engine.begin() as conn:
            conn.execute(
                update(page_session)
                .where(page_session.c.token_hash == _hash(token))
                .values(token_hash=literal(SPENT) + func.substr(page_session.c.token_hash, 2))
            )

    def prune(self) -> None:
        """Remove every learner's spent and expired sessions (see the module docstring)."""
        with self.engine.begin() as conn:
            self._prune(conn)

    def _prune(self, conn: Connection, learner: str | None = None) -> None:
        p, other = page_session, page_session.alias("other")
        dead = p.c.token_hash.startswith(SPENT)
        if self.session_lifetime is not None:
            dead = or_(dead, p.c.created_at <= _now() - self.session_lifetime)
        mine = p.c.learner == learner if learner is not None else true()
        earlier = exists().where(
            other.c.learner == p.c.learner,
            other.c.module == p.c.module,
            other.c.version == p.c.version,
            or_(
                other.c.created_at < p.c.created_at,
                and_(other.c.created_at == p.c.created_at, other.c.token_hash < p.c.token_hash),
            ),
        )
        conn.execute(delete(p).where(mine, dead, earlier))
        # the first session of each (learner, module, version) stays, as spent
        conn.execute(
            update(p)
            .where(mine, dead, ~p.c.token_hash.startswith(SPENT))
            .values(token_hash=literal(SPENT) + func.substr(p.c.token_hash, 2))
        )

    # answers
    def load(self, s: PageSession) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {"svar": {}, "ovning": {}, "dialog": {}, "reflektion": {}}
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(answer).where(
                    answer.c.learner == s.learner,
                    answer.c.module == s.module,
                    answer.c.version == s.version,
                )
            ):
                out[row.kind][row.key] = json.loads(row.value)
            for row in conn.execute(
                select(reflection).where(
                    reflection.c.learner == s.learner,
                    reflection.c.module == s.module,
                    reflection.c.version == s.version,
                )
            ):
                out["reflektion"][row.key] = row.text
        return out

    def save(self, s: PageSession, kind: str, key: str, value: Any) -> None:
        with self.engine.begin() as conn:
            if kind == "reflektion":
                upsert(
                    conn,
                    reflection,
                    {
                        "learner": s.learner,
                        "module": s.module,
                        "version": s.version,
                        "key": key,
                        "text": value,
                        "updated_at": _now(),
                    },
                    ["learner", "module", "version", "key"],
                )
            else:
                upsert(
                    conn,
                    answer,
                    {
                        "learner": s.learner,
                        "module": s.module,
                        "version": s.version,
                        "kind": kind,
                        "key": key,
                        "value": json.dumps(value),
                        "updated_at": _now(),
                    },
                    ["learner", "module", "version", "kind", "key"],
                )

    # attempts of the knowledge check
    def attempts(self, s: PageSession) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(attempt)
                .where(
                    attempt.c.learner == s.learner,
                    attempt.c.module == s.module,
                    attempt.c.version == s.version,
                )
                .order_by(attempt.c.number)
            )
            return [
                {"number": r.number, "variant": r.variant, "seed": r.seed, "started": r.started_at}
                for r in rows
            ]

    def start_attempt(self, s: PageSession, number: int, variant: str, seed: int) -> bool:
        """Attempt ``number`` begins (its graded answers start empty). False if another
        page of the learner's started it first."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    attempt.insert().values(
                        learner=s.learner,
                        module=s.module,
                        version=s.version,
                        number=number,
                        variant=variant,
                        seed=seed,
                        started_at=_now(),
                    )
                )
                if number > 1:
                    conn.execute(
                        delete(answer).where(
                            answer.c.learner == s.learner,
                            answer.c.module == s.module,
                            answer.c.version == s.version,
                            answer.c.kind == "svar",
                        )
                    )
        except IntegrityError:
            return False
        return True

    def started_modules(self, learner: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(answer.c.module).where(answer.c.learner == learner).distinct()
            )
            return {r.module for r in rows}

    # results (the learner's own copy of what grading reported)
    def record_result(
        self, learner: str, module: str, version: int, submission_id: str, data: dict[str, Any]
    ) -> None:
        with self.engine.begin() as conn:
            upsert(
                conn,
                result,
                {
                    "submission_id": submission_id,
                    "learner": learner,
                    "module": module,
                    "version": version,
                    "score": data["score"],
                    "max_score": data["max_score"],
                    "passed": data["passed"],
                    "details": json.dumps(data),
                    "graded_at": _now(),
                },
                ["submission_id"],
            )

    def results(self, learner: str, module: str | None = None) -> list[dict[str, Any]]:
        query = select(result).where(result.c.learner == learner)
        if module:
            query = query.where(result.c.module == module)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(result.c.graded_at))
            return [json.loads(r.details) | {"graded_at": r.graded_at.isoformat()} for r in rows]
