"""Per-question statistics for trainers: which questions or texts need work.

Read from the submission log (answers as option ids, and which questions the gradebook
scored as correct) and the answer store's page sessions (when a learner first opened the
module). Never from reflections, and nothing here names a learner.

A module's knowledge check is a pool of questions, and each attempt asks some of them (the
variant it was given, ``kasam-v1-b``). So every pool question is counted over the graded
attempts that asked it, whichever variant that was: the result of an attempt lists the
questions it asked. Attempts, learners and passes are counted per module version.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from statistics import median
from typing import Any

from sqlalchemy import func, select

from omsorgslyft.authoring.draws import draw_variants
from omsorgslyft.model import Module, QuestionKind
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.store import RecordsStore

# fewer answers than this and a share says more about people than about the question
MIN_ANSWERS = 1


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(fragment: str) -> str:
    parser = _Text()
    parser.feed(fragment)
    return html.unescape(" ".join("".join(parser.parts).split()))


NOT_ASKED = "inte ställd än"


@dataclass(frozen=True)
class QuestionStats:
    id: str
    prompt: str
    kind: str
    asked: int  # graded attempts that asked this pool question
    correct: int  # of those, the ones that got it right
    common_wrong: str  # the most chosen wrong option ("" if none or not a choice question)
    common_wrong_count: int

    @property
    def share_correct(self) -> float | None:
        """Right among the attempts that asked it; None for a question not asked yet."""
        return self.correct / self.asked if self.asked else None


@dataclass(frozen=True)
class ModuleStats:
    id: str
    title: str
    version: int
    attempts: int
    learners: int
    passed: int
    median_minutes: float | None
    questions: tuple[QuestionStats, ...]
    pool: int = 0  # graded questions in the module's pool
    per_attempt: int = 0  # how many of them each attempt asks
    variants: int = 1  # pre-built variants of this version


def _minutes(opened: datetime | None, submitted: datetime) -> float | None:
    if opened is None:
        return None
    a = opened.replace(tzinfo=None)
    b = submitted.replace(tzinfo=None)
    return max((b - a).total_seconds() / 60.0, 0.0)


def question_statistics(
    config: RecordsConfig, store: RecordsStore, modules: list[Module] | None = None
) -> list[ModuleStats]:
    from omsorgslyft.grading.submissions import DONE, submission
    from omsorgslyft.learn.store import page_session

    if modules is None:
        from omsorgslyft.authoring.discover import load_modules

        modules, _ = load_modules([config.modules_dir], config.modules_dir.parent)
    opened: dict[tuple[str, str, int], datetime] = {}
    source = store.source(config.answers_url, "page_session") if config.answers_url else None
    if source is not None:
        query = select(
            page_session.c.learner,
            page_session.c.module,
            page_session.c.version,
            func.min(page_session.c.created_at).label("first"),
        ).group_by(page_session.c.learner, page_session.c.module, page_session.c.version)
        with source.connect() as conn:
            opened = {(r.learner, r.module, r.version): r.first for r in conn.execute(query)}
    rows: list[Any] = []
    log = store.source(config.submissions_url, "submission")
    if log is not None:
        with log.connect() as conn:
            rows = list(
                conn.execute(
                    select(
                        submission.c.learner,
                        submission.c.module,
                        submission.c.version,
                        submission.c.answers,
                        submission.c.result,
                        submission.c.received_at,
                    )
                    .where(submission.c.status == DONE)
                    .order_by(submission.c.received_at)
                )
            )
    by_module: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_module[r.module].append(r)
    out = []
    for module in modules:
        mine = [r for r in by_module.get(module.id, []) if r.version == module.version]
        asked: Counter[str] = Counter()
        correct: Counter[str] = Counter()
        wrong: dict[str, Counter[str]] = defaultdict(Counter)
        first_pass: dict[str, datetime] = {}
        learners: set[str] = set()
        options = {q.id: {o.id: o for o in (*q.options, *q.items)} for q in module.graded_questions}
        for r in mine:
            learners.add(r.learner)
            given = json.loads(r.answers)
            result = json.loads(r.result) if r.result else {}
            if result.get("passed") and r.learner not in first_pass:
                first_pass[r.learner] = r.received_at
            scored = {q["id"]: q for q in result.get("questions", [])}
            for q in module.graded_questions:
                if q.id not in scored:
                    continue
                asked[q.id] += 1
                if scored[q.id].get("correct"):
                    correct[q.id] += 1
                    continue
                chosen = given.get(q.id)
                if q.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE) and chosen:
                    chosen = [chosen]
                if q.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE, QuestionKind.MULTIPLE):
                    for option_id in chosen or []:
                        option = options[q.id].get(option_id)
                        if option is not None and not option.correct:
                            wrong[q.id][option_id] += 1
        times = [
            m
            for learner, when in first_pass.items()
            if (m := _minutes(opened.get((learner, module.id, module.version)), when)) is not None
        ]
        questions = []
        pool = len(module.graded_questions)
        for q in module.graded_questions:
            top = wrong[q.id].most_common(1)
            text = plain(options[q.id][top[0][0]].html) if top else ""
            questions.append(
                QuestionStats(
                    q.id,
                    plain(q.prompt_html),
                    q.kind.value,
                    asked[q.id],
                    correct[q.id],
                    text,
                    top[0][1] if top else 0,
                )
            )
        out.append(
            ModuleStats(
                module.id,
                module.title,
                module.version,
                len(mine),
                len(learners),
                len(first_pass),
                round(median(times), 1) if times else None,
                tuple(questions),
                pool=len(module.graded_questions),
                per_attempt=min(module.check.asked or pool, pool),
                variants=len(draw_variants(module)),
            )
        )
    return out
