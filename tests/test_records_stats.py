"""Per-question statistics for trainers, from the submission log and the answer store."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from databases import cli_db_args
from sqlalchemy import update

from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.cli import main
from omsorgslyft.grading.submissions import DONE, FAILED, SubmissionLog, submission
from omsorgslyft.learn.store import AnswerStore, page_session
from omsorgslyft.model import Module, Question, QuestionKind
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.stats import question_statistics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "exempelmodul"
LEARNERS = ("anna.andersson", "bertil.bergstrom", "cecilia.carlsson", "david.dahl", "erik.ek")


@pytest.fixture(scope="module")
def module() -> Module:
    modules, problems = load_modules([EXAMPLE], ROOT)
    assert problems == []
    return modules[0]


def question(module: Module, qid: str) -> Question:
    return next(q for q in module.graded_questions if q.id == qid)


def option(module: Module, qid: str, text: str) -> str:
    return next(o.id for o in question(module, qid).options if o.html == text)


def right_answers(module: Module) -> dict[str, Any]:
    return {q.id: q.correct_answer() for q in module.graded_questions}


def grade(module: Module, sid: str, answers: dict[str, Any]) -> dict[str, Any]:
    """A result shaped like the grading service's (per question ``correct``)."""
    questions, score = [], 0
    for q in module.graded_questions:
        given, want = answers.get(q.id), q.correct_answer()
        if q.kind is QuestionKind.MULTIPLE and isinstance(given, list):
            given = sorted(given)
        points = q.points if given == want else 0
        score += points
        questions.append(
            {
                "id": q.id,
                "prompt": q.prompt_html,
                "points": points,
                "max_points": q.points,
                "correct": points == q.points,
                "answered": given is not None,
                "explanation": q.explanation_html,
                "feedback": "",
            }
        )
    percent = 100.0 * score / module.max_points
    return {
        "submission_id": sid,
        "module": module.id,
        "version": module.version,
        "title": module.title,
        "score": score,
        "max_score": module.max_points,
        "percent": round(percent, 1),
        "pass_mark": module.pass_mark,
        "passed": percent >= module.pass_mark,
        "questions": questions,
    }


class Setup:
    def __init__(self, db_urls: dict[str, str], tmp_path: Path) -> None:
        self.config = RecordsConfig(
            modules_dir=tmp_path / "modules",
            courses_dir=tmp_path / "courses",
            records_url=db_urls["records"],
            submissions_url=db_urls["submissions"],
            gradebook_url="",
            answers_url=db_urls["answers"],
        )
        self.store = self.config.store()
        self.log = SubmissionLog(self.config.submissions_url)
        self.answers = AnswerStore(self.config.answers_url)
        self.count = 0

    def submit(
        self, module: Module, learner: str, answers: dict[str, Any], at: datetime, version: int
    ) -> dict[str, Any]:
        self.count += 1
        sid = f"sub-{self.count}"
        self.log.receive(sid, learner, module.id, version, answers)
        result = grade(replace(module, version=version), sid, answers)
        self.log.finish(sid, DONE, result)
        with self.log.engine.begin() as conn:
            conn.execute(update(submission).where(submission.c.id == sid).values(received_at=at))
        return result

    def opened(self, learner: str, module: Module, version: int, at: datetime) -> None:
        token = self.answers.open_session(learner, module.id, version)
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        with self.answers.engine.begin() as conn:
            done = conn.execute(
                update(page_session)
                .where(page_session.c.token_hash == token_hash)
                .values(created_at=at)
            )
            assert done.rowcount == 1

    def close(self) -> None:
        self.store.dispose()
        self.log.engine.dispose()
        self.answers.engine.dispose()


@pytest.fixture
def setup(db_urls: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Setup(db_urls, tmp_path)
    yield s
    s.close()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=UTC)


def test_question_statistics(setup: Setup, module: Module) -> None:
    current = replace(module, version=2)
    right = right_answers(module)
    laran = option(module, "k-enkel", "Läran om sjukdomars orsaker")
    metod = option(module, "k-enkel", "En metod för sårvård")
    kontinuitet = option(module, "k-fler", "Kontinuitet")
    falskt = option(module, "k-sant", "Falskt")
    three = list(right["k-fler"])
    anna, bertil, cecilia, david, erik = LEARNERS

    # version 2 (current)
    setup.opened(anna, module, 1, at(1, 8))  # an older version's page: not this version's time
    setup.opened(anna, module, 2, at(4, 8))
    first = setup.submit(
        module,
        anna,
        right | {"k-enkel": laran, "k-fler": [three[0], kontinuitet]},
        at(4, 8, 10),
        2,
    )
    assert not first["passed"]
    setup.opened(anna, module, 2, at(4, 10))  # a later page: the first one counts
    assert setup.submit(module, anna, right, at(4, 8, 30), 2)["passed"]
    setup.opened(bertil, module, 2, at(5, 9))
    assert setup.submit(module, bertil, right | {"k-enkel": laran}, at(5, 9, 10), 2)["passed"]
    setup.opened(cecilia, module, 2, at(6, 9))
    failed = setup.submit(
        module,
        cecilia,
        right | {"k-enkel": metod, "k-fler": [*three, kontinuitet], "k-sant": falskt},
        at(6, 9, 45),
        2,
    )
    assert not failed["passed"]
    # not graded (yet), or grading failed: not counted
    setup.log.receive("pending", erik, module.id, 2, {"k-enkel": metod})
    setup.log.receive("broken", erik, module.id, 2, {"k-enkel": metod})
    setup.log.finish("broken", FAILED, {"error": "Rättningen misslyckades."})
    # version 1 (older): must not be mixed in
    for learner in (david, erik):
        setup.opened(learner, module, 1, at(2, 8))
        assert setup.submit(module, learner, right | {"k-enkel": metod}, at(2, 8, 5), 1)["passed"]

    (stats,) = question_statistics(setup.config, setup.store, modules=[current])
    assert (stats.id, stats.title, stats.version) == (module.id, module.title, 2)
    assert (stats.attempts, stats.learners, stats.passed) == (4, 3, 2)
    assert stats.median_minutes == 20.0  # anna 30 minutes, bertil 10
    by_id = {q.id: q for q in stats.questions}
    assert list(by_id) == ["k-enkel", "k-fler", "k-sant", "k-ordning", "k-para"]

    enkel = by_id["k-enkel"]
    assert (enkel.answers, enkel.correct, enkel.share_correct) == (4, 1, 0.25)
    assert (enkel.common_wrong, enkel.common_wrong_count) == ("Läran om sjukdomars orsaker", 2)
    assert enkel.prompt == "Vad betyder salutogenes?"
    assert enkel.kind == "enkelval"
    fler = by_id["k-fler"]
    assert (fler.answers, fler.correct) == (4, 2)
    assert (fler.common_wrong, fler.common_wrong_count) == ("Kontinuitet", 2)
    sant = by_id["k-sant"]
    assert (sant.answers, sant.correct, sant.common_wrong, sant.common_wrong_count) == (
        4,
        3,
        "Falskt",
        1,
    )
    for qid in ("k-ordning", "k-para"):
        q = by_id[qid]
        assert (q.answers, q.correct, q.share_correct, q.common_wrong) == (4, 4, 1.0, "")

    (older,) = question_statistics(setup.config, setup.store, modules=[module])
    assert (older.version, older.attempts, older.learners, older.passed) == (1, 2, 2, 2)
    assert older.median_minutes == 5.0
    older_enkel = older.questions[0]
    assert (older_enkel.answers, older_enkel.correct, older_enkel.common_wrong) == (
        2,
        0,
        "En metod för sårvård",
    )

    text = json.dumps([asdict(stats), asdict(older)], ensure_ascii=False) + repr([stats, older])
    for learner in LEARNERS:
        assert learner not in text
        assert learner.split(".")[0] not in text.lower()


def test_statistics_without_submissions(setup: Setup, module: Module) -> None:
    (stats,) = question_statistics(setup.config, setup.store, modules=[module])
    assert (stats.attempts, stats.learners, stats.passed, stats.median_minutes) == (0, 0, 0, None)
    assert all(q.answers == 0 and q.share_correct == 0.0 for q in stats.questions)


def test_cli_statistics(
    setup: Setup,
    module: Module,
    db_urls: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "projekt"
    shutil.copytree(EXAMPLE, root / "modules" / "exempelmodul")
    (root / "courses").mkdir()
    right = right_answers(module)
    laran = option(module, "k-enkel", "Läran om sjukdomars orsaker")
    setup.submit(module, "anna.andersson", right | {"k-enkel": laran}, at(4, 8), 1)
    setup.submit(module, "bertil.bergstrom", right, at(4, 9), 1)
    urls = cli_db_args(db_urls)
    assert main(["--root", str(root), "statistik", *urls]) == 0
    out = capsys.readouterr().out
    assert f"{module.title} (version 1): 2 inlämningar" in out
    assert (
        "   50%  k-enkel: Vad betyder salutogenes? · vanligaste fel: Läran om sjukdomars orsaker"
        in out
    )
    assert "  100%  k-fler: Vilka tre delar har KASAM?\n" in out
    assert "anna" not in out and "bertil" not in out


def test_times_use_only_sessions_before_the_first_pass(setup: Setup, module: Module) -> None:
    right = right_answers(module)
    setup.opened("anna.andersson", module, 1, at(4, 8))
    setup.submit(module, "anna.andersson", right, at(4, 8, 45), 1)
    # no page session: a pass without a known start is not timed
    setup.submit(module, "bertil.bergstrom", right, at(4, 9), 1)
    (stats,) = question_statistics(setup.config, setup.store, modules=[module])
    assert stats.passed == 2
    assert stats.median_minutes == 45.0
