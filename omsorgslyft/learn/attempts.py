"""Attempts of a knowledge check, as the learn service keeps them for each learner.

An attempt is one draw: a variant of the module version (which questions) and a seed
(their order and their options' order). The first attempt begins when the learner first
opens the module; the next one only after the current one was handed in and failed,
while the daily limit allows (grading enforces the same limit on Lämna in). A new
attempt gets a variant the learner has not failed; when they have failed them all, the
one failed longest ago. Its graded answers start empty.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from omsorgslyft.attempts import limit_message, next_attempt
from omsorgslyft.authoring.draws import parse_variant_name
from omsorgslyft.learn.store import PageSession

if TYPE_CHECKING:
    from omsorgslyft.learn.catalog import ModuleInfo
    from omsorgslyft.learn.handlers import LearnService


class NotNow(Exception):
    """A new attempt cannot start (HTTP status and a Swedish message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Attempt:
    number: int
    variant: str
    seed: int
    questions: tuple[str, ...]  # in the order this attempt shows them
    result: dict[str, Any] | None  # once handed in and graded

    @property
    def handed_in(self) -> bool:
        return self.result is not None

    def view(self) -> dict[str, Any]:
        """What the page's kernel gets: ids, order and seed (never the key)."""
        return {
            "number": self.number,
            "variant": self.variant,
            "questions": list(self.questions),
            "seed": self.seed,
        }


def submission_id(session: PageSession, number: int) -> str:
    """The same attempt handed in twice is one submission (grading is idempotent on it)."""
    key = f"{session.learner}\x1f{session.module}\x1f{session.version}\x1f{number}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _letter(result: dict[str, Any]) -> str:
    parsed = parse_variant_name(str(result.get("variant", "")))
    return parsed[2] if parsed else "a"


def _ordered(info: ModuleInfo, variant: str, seed: int) -> tuple[str, ...]:
    questions = list(info.variants.get(variant) or next(iter(info.variants.values())))
    random.Random(seed).shuffle(questions)
    return tuple(questions)


def _results(app: LearnService, session: PageSession) -> dict[str, dict[str, Any]]:
    """This version's graded results by submission id."""
    return {
        r["submission_id"]: r
        for r in app.store.results(session.learner, session.module)
        if r.get("version") == session.version and "submission_id" in r
    }


def _build(
    info: ModuleInfo, session: PageSession, row: dict[str, Any], results: dict[str, Any]
) -> Attempt:
    return Attempt(
        number=row["number"],
        variant=row["variant"],
        seed=row["seed"],
        questions=_ordered(info, row["variant"], row["seed"]),
        result=results.get(submission_id(session, row["number"])),
    )


def _info(app: LearnService, session: PageSession) -> ModuleInfo:
    info = app.catalog.get(session.module)
    if info is None or info.version != session.version:
        raise NotNow(409, "Modulen har uppdaterats. Ladda om sidan.")
    return info


def _choose(info: ModuleInfo, failed: list[dict[str, Any]]) -> str:
    letters = list(info.variants)
    tried = [_letter(r) for r in failed]  # oldest first
    fresh = [v for v in letters if v not in tried]
    if fresh:
        return secrets.choice(fresh)
    # all failed: the one failed longest ago (the last failure of each counts)
    last = {v: i for i, v in enumerate(tried)}
    return min(letters, key=lambda v: last.get(v, -1))


def current(app: LearnService, session: PageSession) -> Attempt:
    """The learner's current attempt (the first one begins now if there is none)."""
    info = _info(app, session)
    rows = app.store.attempts(session)
    results = _results(app, session)
    if not rows:
        # a learner who handed in before pools came keeps that result as attempt 1
        _start(app, session, 1, info, [])
        rows = app.store.attempts(session)
    return _build(info, session, rows[-1], results)


def _start(
    app: LearnService, session: PageSession, number: int, info: ModuleInfo, failed: list[Any]
) -> None:
    app.store.start_attempt(session, number, _choose(info, failed), secrets.randbelow(2**31))


def start_next(app: LearnService, session: PageSession, renewal: bool = False) -> Attempt:
    """Begin the next attempt, or raise :class:`NotNow` saying why not and until when."""
    info = _info(app, session)
    now = current(app, session)
    if now.result is None:
        raise NotNow(409, "Lämna in det här försöket först.")
    if now.result.get("passed") and not renewal:
        raise NotNow(409, "Du är redan godkänd på den här modulen.")
    moment = datetime.now(UTC)
    times = [
        datetime.fromisoformat(r["graded_at"])
        for r in app.store.results(session.learner, session.module)
    ]
    opens = next_attempt(times, info.attempts_per_day, moment)
    if opens is not None:
        raise NotNow(429, limit_message(info.attempts_per_day, opens, moment))
    results = _results(app, session)
    failed = [
        results[submission_id(session, row["number"])]
        for row in app.store.attempts(session)
        if submission_id(session, row["number"]) in results
        and not results[submission_id(session, row["number"])].get("passed")
    ]
    _start(app, session, now.number + 1, info, failed)
    return current(app, session)
