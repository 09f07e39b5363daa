"""Grading a question pool with real nbgrader: what is accepted, what is recorded, what a
learner gets back, and the daily attempt limit across a restart."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omsorgslyft.attempts import limit_message, next_attempt, when_text
from omsorgslyft.grading.build import Built, build_modules
from omsorgslyft.grading.grader import GradingCore, Rejected
from omsorgslyft.grading.review import FAILED_KEYS, learner_view
from omsorgslyft.grading.submissions import DONE, SubmissionLog
from omsorgslyft.model import CheckRules, FailReview, Module

from answers import right_answers, wrong_answers

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Built]:
    root = tmp_path_factory.mktemp("pools")
    shutil.copytree(ROOT / "modules" / "kasam", root / "modules" / "kasam")
    (built,) = build_modules([root / "modules"], root, root / "grading")
    return root, built


def core_for(root: Path, db: Path) -> GradingCore:
    return GradingCore(root / "grading", root / "modules", SubmissionLog(f"sqlite:///{db}"))


def secrets(module: Module) -> list[str]:
    """Every explanation and option feedback of the pool (what a pass may show)."""
    out = [q.explanation_html for q in module.graded_questions]
    out += [o.feedback_html for q in module.graded_questions for o in q.options if o.feedback_html]
    return [s for s in out if s]


def asked(built: Built, letter: str) -> list[str]:
    return list(built.assignments[letter].questions)


def test_answers_outside_the_draw_and_empty_submissions_are_refused(
    project: tuple[Path, Built], tmp_path: Path
) -> None:
    root, built = project
    core = core_for(root, tmp_path / "log.db")
    a, b = asked(built, "a"), asked(built, "b")
    outside = next(q for q in b if q not in a)
    right = right_answers(built.module)
    with pytest.raises(Rejected) as refused:
        core.accept("s1", "anna", "kasam", 1, {a[0]: right[a[0]], outside: right[outside]}, "a")
    assert refused.value.status == 400 and "inte ingår i ditt försök" in refused.value.message
    with pytest.raises(Rejected) as empty:
        core.accept("s2", "anna", "kasam", 1, {}, "a")
    assert empty.value.status == 400 and "inte svarat på någon fråga" in empty.value.message
    with pytest.raises(Rejected) as blanks:
        core.accept("s3", "anna", "kasam", 1, {a[0]: None, a[1]: []}, "a")
    assert blanks.value.status == 400
    with pytest.raises(Rejected) as unknown:
        core.accept("s4", "anna", "kasam", 1, {a[0]: right[a[0]]}, "z")
    assert unknown.value.status == 409
    # nothing was written: no submission, no file for nbgrader
    assert core.log.for_learner("anna") == []
    assert not (root / "grading" / "submitted" / "anna").exists()


def test_a_failed_attempt_shows_no_key_and_a_pass_explains(
    project: tuple[Path, Built], tmp_path: Path
) -> None:
    root, built = project
    core = core_for(root, tmp_path / "log.db")
    module = built.module
    a, b = asked(built, "a"), asked(built, "b")
    wrong = wrong_answers(module)
    core.accept("fail-1", "bertil", "kasam", 1, {q: wrong[q] for q in a[:3]}, "a")
    core.grade_and_record("fail-1")
    sub = core.log.get("fail-1")
    assert sub is not None and sub.status == DONE and sub.variant == "kasam-v1-a"
    recorded, shown = sub.result, learner_view(sub.result, module)
    assert recorded is not None and shown is not None and not shown["passed"]
    # the learner hears which questions were wrong and where to read, nothing more
    assert [q["id"] for q in shown["questions"]] == a
    for q in shown["questions"]:
        assert set(q) <= set(FAILED_KEYS)
        assert q["section"] and q["section_id"]
    text = json.dumps(shown, ensure_ascii=False)
    assert not [s for s in secrets(module) if s in text]
    # what is recorded holds no explanation either (only a pass does)
    assert not [s for s in secrets(module) if s in json.dumps(recorded, ensure_ascii=False)]

    right = right_answers(module)
    core.accept("pass-1", "bertil", "kasam", 1, {q: right[q] for q in b}, "b")
    core.grade_and_record("pass-1")
    passed = core.log.get("pass-1")
    assert passed is not None and passed.result is not None
    shown = learner_view(passed.result, module)
    assert shown is not None and shown["passed"] and shown["variant"] == "kasam-v1-b"
    by_id = {q.id: q for q in module.graded_questions}
    assert [q["id"] for q in shown["questions"]] == b
    for q in shown["questions"]:
        assert q["explanation"] == by_id[q["id"]].explanation_html
    # only the asked questions are explained
    others = [by_id[q].explanation_html for q in by_id if q not in b]
    assert not [s for s in others if s in json.dumps(shown, ensure_ascii=False)]


def test_score_only_review_shows_no_questions(project: tuple[Path, Built]) -> None:
    _, built = project
    module = replace(built.module, check=CheckRules(asked=10, after_fail=FailReview.SCORE))
    result: dict[str, Any] = {
        "passed": False,
        "score": 1,
        "questions": [{"id": "k1", "correct": False, "answered": True, "section": "X"}],
    }
    shown = learner_view(result, module)
    assert shown is not None and shown["questions"] == [] and shown["review"] == "poäng"


def test_daily_limit_holds_across_a_restart(project: tuple[Path, Built], tmp_path: Path) -> None:
    root, built = project
    db = tmp_path / "log.db"
    core = core_for(root, db)
    wrong = wrong_answers(built.module)
    for n, letter in enumerate("abc", start=1):
        q = asked(built, letter)[0]
        core.accept(f"try-{n}", "cecilia", "kasam", 1, {q: wrong[q]}, letter)
    core.grade_and_record("try-1")
    # the same acknowledged submission sent again is the same one, not a new attempt
    again, new = core.accept(
        "try-3", "cecilia", "kasam", 1, {asked(built, "c")[0]: wrong[asked(built, "c")[0]]}, "c"
    )
    assert not new and again.id == "try-3"
    restarted = core_for(root, db)  # the service restarted: the log is what it knows
    q = asked(built, "d")[0]
    with pytest.raises(Rejected) as limit:
        restarted.accept("try-4", "cecilia", "kasam", 1, {q: wrong[q]}, "d")
    assert limit.value.status == 429
    assert limit.value.message.startswith("Du har gjort 3 försök det senaste dygnet.")
    assert "Nästa försök öppnar" in limit.value.message
    assert restarted.log.get("try-4") is None
    # another learner is not limited by cecilia's attempts
    restarted.accept("other-1", "david", "kasam", 1, {q: wrong[q]}, "d")


def test_when_the_next_attempt_opens() -> None:
    now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 14.00 in Stockholm
    times = [now - timedelta(hours=20), now - timedelta(hours=2), now - timedelta(minutes=5)]
    opens = next_attempt(times, 3, now)
    assert opens == times[0] + timedelta(hours=24)
    assert when_text(opens, now) == "i dag kl. 18.00"
    assert next_attempt(times, 4, now) is None
    assert next_attempt(times[1:], 2, now) == times[1] + timedelta(hours=24)
    assert when_text(now + timedelta(hours=23, seconds=1), now) == "i morgon kl. 13.01"
    assert when_text(now + timedelta(days=2), now) == "torsdag 3 december kl. 14.00"
    assert limit_message(1, now, now).startswith("Du har gjort ett försök det senaste dygnet.")
