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
from omsorgslyft.authoring.draws import draw_variants, variant_name
from omsorgslyft.cli import main
from omsorgslyft.grading.submissions import DONE, FAILED, SubmissionLog, submission
from omsorgslyft.learn.store import AnswerStore, page_session
from omsorgslyft.model import Module, Question, QuestionKind
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.stats import plain, question_statistics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "exempelmodul"
KASAM = ROOT / "modules" / "kasam"
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


def pool_module() -> Module:
    """The real kasam module as a question pool with at least two variants that leave
    some pool questions unasked (its own draw rules if they do, else a third per attempt)."""
    modules, problems = load_modules([KASAM], ROOT)
    assert problems == []
    (kasam,) = modules
    size = len(kasam.graded_questions)
    rules = kasam.check
    if not rules.asked or rules.asked * 2 >= size or rules.variants < 2:
        kasam = replace(kasam, check=replace(rules, asked=max(size // 3, 1), groups=()))
    if kasam.check.variants < 2:
        kasam = replace(kasam, check=replace(kasam.check, variants=2))
    return kasam


def asked_by(module: Module, letter: str) -> list[Question]:
    by_id = {q.id: q for q in module.graded_questions}
    return [by_id[qid] for qid in draw_variants(module)[letter]]


def wrong_option(q: Question) -> str:
    return next(o.id for o in q.options if not o.correct)


def grade_variant(module: Module, letter: str, sid: str, answers: dict[str, Any]) -> dict[str, Any]:
    """A result shaped like the grading service's for one variant: it lists only the
    questions that variant asked; prompts and explanations only in a passed attempt."""
    questions, score, top = [], 0, 0
    for q in asked_by(module, letter):
        given, want = answers.get(q.id), q.correct_answer()
        if q.kind is QuestionKind.MULTIPLE and isinstance(given, list):
            given = sorted(given)
        points = q.points if given == want else 0
        score += points
        top += q.points
        questions.append(
            {
                "id": q.id,
                "points": points,
                "max_points": q.points,
                "correct": points == q.points,
                "answered": q.id in answers,
                "section": q.section,
                "section_id": q.section_id,
            }
        )
    percent = 100.0 * score / top
    passed = percent >= module.pass_mark
    if passed:
        for entry, q in zip(questions, asked_by(module, letter), strict=True):
            entry |= {"prompt": q.prompt_html, "feedback": "", "explanation": q.explanation_html}
    return {
        "submission_id": sid,
        "module": module.id,
        "version": module.version,
        "variant": variant_name(module.id, module.version, letter),
        "title": module.title,
        "score": score,
        "max_score": top,
        "percent": round(percent, 1),
        "pass_mark": module.pass_mark,
        "passed": passed,
        "validity_months": 36,
        "graded_at": datetime.now(UTC).isoformat(),
        "questions": questions,
    }


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

    def submit_variant(
        self, module: Module, letter: str, learner: str, answers: dict[str, Any]
    ) -> dict[str, Any]:
        """An attempt of one variant, as the grading service logs it."""
        self.count += 1
        sid = f"sub-{self.count}"
        variant = variant_name(module.id, module.version, letter)
        self.log.receive(sid, learner, module.id, module.version, answers, variant=variant)
        result = grade_variant(module, letter, sid, answers)
        self.log.finish(sid, DONE, result)
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
    assert (enkel.asked, enkel.correct, enkel.share_correct) == (4, 1, 0.25)
    assert (enkel.common_wrong, enkel.common_wrong_count) == ("Läran om sjukdomars orsaker", 2)
    assert enkel.prompt == "Vad betyder salutogenes?"
    assert enkel.kind == "enkelval"
    fler = by_id["k-fler"]
    assert (fler.asked, fler.correct) == (4, 2)
    assert (fler.common_wrong, fler.common_wrong_count) == ("Kontinuitet", 2)
    sant = by_id["k-sant"]
    assert (sant.asked, sant.correct, sant.common_wrong, sant.common_wrong_count) == (
        4,
        3,
        "Falskt",
        1,
    )
    for qid in ("k-ordning", "k-para"):
        q = by_id[qid]
        assert (q.asked, q.correct, q.share_correct, q.common_wrong) == (4, 4, 1.0, "")

    (older,) = question_statistics(setup.config, setup.store, modules=[module])
    assert (older.version, older.attempts, older.learners, older.passed) == (1, 2, 2, 2)
    assert older.median_minutes == 5.0
    older_enkel = older.questions[0]
    assert (older_enkel.asked, older_enkel.correct, older_enkel.common_wrong) == (
        2,
        0,
        "En metod för sårvård",
    )

    text = json.dumps([asdict(stats), asdict(older)], ensure_ascii=False) + repr([stats, older])
    for learner in LEARNERS:
        assert learner not in text
        assert learner.split(".")[0] not in text.lower()


def test_pool_questions_are_counted_where_they_were_asked(setup: Setup) -> None:
    """Attempts of variants a and b: each pool question's share is over the attempts that
    asked it; a question neither variant asks is not asked yet (no share, not 0 %)."""
    kasam = pool_module()
    a, b = asked_by(kasam, "a"), asked_by(kasam, "b")
    ids_a, ids_b = {q.id for q in a}, {q.id for q in b}
    assert ids_a != ids_b
    never = [q.id for q in kasam.graded_questions if q.id not in ids_a | ids_b]
    assert never  # the pool is bigger than what two variants ask
    single_a = [q for q in a if q.kind is QuestionKind.SINGLE]
    single_b = [q for q in b if q.kind is QuestionKind.SINGLE and q.id not in ids_a]
    assert single_a and single_b
    miss_a, miss_b = single_a[0], single_b[0]
    right_a = {q.id: q.correct_answer() for q in a}
    right_b = {q.id: q.correct_answer() for q in b}
    anna, bertil, cecilia, david, _ = LEARNERS

    assert setup.submit_variant(kasam, "a", anna, right_a)["passed"]
    setup.submit_variant(kasam, "a", bertil, right_a | {miss_a.id: wrong_option(miss_a)})
    setup.submit_variant(kasam, "b", cecilia, right_b | {miss_b.id: wrong_option(miss_b)})
    # david leaves one question of b unanswered: asked, and not right
    skipped = b[-1]
    unanswered = {k: v for k, v in right_b.items() if k != skipped.id}
    setup.submit_variant(kasam, "b", david, unanswered | {miss_b.id: wrong_option(miss_b)})

    (stats,) = question_statistics(setup.config, setup.store, modules=[kasam])
    assert (stats.attempts, stats.learners) == (4, 4)
    pool = len(kasam.graded_questions)
    assert (stats.pool, stats.per_attempt, stats.variants) == (
        pool,
        kasam.check.asked,
        kasam.check.variants,
    )
    assert stats.per_attempt < stats.pool
    by_id = {q.id: q for q in stats.questions}
    assert list(by_id) == [q.id for q in kasam.graded_questions]  # every pool question
    for q in kasam.graded_questions:
        asked = 2 * (q.id in ids_a) + 2 * (q.id in ids_b)
        wrong = (q.id == miss_a.id) + 2 * (q.id == miss_b.id)
        wrong += (q.id == skipped.id) and q.id != miss_b.id
        got = by_id[q.id]
        assert (got.asked, got.correct) == (asked, asked - wrong), q.id
        if asked:
            assert got.share_correct == (asked - wrong) / asked, q.id
        else:
            assert got.share_correct is None, q.id
    assert by_id[miss_b.id].common_wrong == plain(
        next(o.html for o in miss_b.options if o.id == wrong_option(miss_b))
    )
    assert (by_id[miss_b.id].common_wrong_count, by_id[miss_a.id].common_wrong_count) == (2, 1)
    assert all(by_id[qid].asked == 0 for qid in never)

    text = json.dumps(asdict(stats), ensure_ascii=False) + repr(stats)
    for learner in LEARNERS:
        assert learner not in text


def test_statistics_without_submissions(setup: Setup, module: Module) -> None:
    (stats,) = question_statistics(setup.config, setup.store, modules=[module])
    assert (stats.attempts, stats.learners, stats.passed, stats.median_minutes) == (0, 0, 0, None)
    # never asked: no share at all (not 0 % right)
    assert all(q.asked == 0 and q.share_correct is None for q in stats.questions)
    assert (stats.pool, stats.per_attempt, stats.variants) == (5, 5, 1)


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
        "   50%  k-enkel: Vad betyder salutogenes? · ställd 2"
        " · vanligaste fel: Läran om sjukdomars orsaker" in out
    )
    assert "  100%  k-fler: Vilka tre delar har KASAM? · ställd 2\n" in out
    assert "frågebanken" not in out  # every question is asked in every attempt
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
