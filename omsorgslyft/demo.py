"""Demo results: real knowledge checks, graded for real, for part of the demo roster.

Only for the demo platform (``bash .ci/platform``), so the HR pages have something to show.
Every result goes through the grading service's own code in this process: the answers are
written to nbgrader's ``submitted/`` layout and autograded by nbgrader into the gradebook,
exactly as a learner's "Lämna in" would. The demo learners who log in themselves (anna,
bengt, cecilia, david) are left untouched. Running it again adds nothing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omsorgslyft.model import Module, QuestionKind

LEAVE_ALONE = frozenset({"anna", "bengt", "cecilia", "david"})


def answers_for(
    module: Module, rng: random.Random, skill: float, asked: list[str] | None = None
) -> dict[str, Any]:
    """Right answers to the ``asked`` questions (default: all), except that each question
    is missed with probability ``1 - skill``."""
    out: dict[str, Any] = {}
    for q in module.graded_questions:
        if asked is not None and q.id not in asked:
            continue
        right = q.correct_answer()
        if rng.random() < skill:
            out[q.id] = right
        elif q.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE):
            out[q.id] = rng.choice([o.id for o in q.options if not o.correct])
        elif q.kind is QuestionKind.MULTIPLE:
            out[q.id] = sorted(o.id for o in q.options if not o.correct)[:1] or right
        elif q.kind is QuestionKind.ORDERING:
            out[q.id] = list(reversed(right))
        else:
            pairs = list(right.items())  # type: ignore[union-attr]
            rights = [r for _, r in pairs]
            out[q.id] = {left: rights[(i + 1) % len(rights)] for i, (left, _) in enumerate(pairs)}
    return out


def seed(
    root: Path,
    usernames: list[str],
    share: float = 0.4,
    progress: Callable[[str], None] = print,
) -> int:
    """Grade demo submissions for about ``share`` of ``usernames``; returns how many."""
    from omsorgslyft.grading.grader import GradingCore
    from omsorgslyft.grading.submissions import SubmissionLog

    course_dir = root / "grading"
    core = GradingCore(
        course_dir, root / "modules", SubmissionLog(f"sqlite:///{course_dir / 'submissions.db'}")
    )
    done = 0
    rng = random.Random(2026)
    for name in sorted(usernames):
        if name in LEAVE_ALONE or core.log.for_learner(name) or rng.random() > share:
            continue
        skill = rng.choice([0.95, 1.0, 1.0, 0.85, 0.6])
        for module in core.modules.values():
            if rng.random() < 0.4:
                continue  # not taken yet
            sid = hashlib.sha256(f"demo/{name}/{module.id}".encode()).hexdigest()[:40]
            variants = sorted(a for a, (m, _) in core.assignments.items() if m == module.id)
            variant = rng.choice(variants)
            answers = answers_for(module, rng, skill, core.assignments[variant][1])
            letter = variant.rsplit("-", 1)[1]
            sub, new = core.accept(sid, name, module.id, module.version, answers, letter)
            if new:
                core.grade_and_record(sub.id)
                done += 1
                progress(f"  {name}: {module.id} rättad")
    return done
