"""The records store's read-only sources: submission log, nbgrader gradebook, answer store."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from omsorgslyft.grading.course import COURSE_ID, _ensure_alembic_on_path
from omsorgslyft.grading.submissions import DONE, FAILED, SubmissionLog
from omsorgslyft.learn.store import AnswerStore
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import ModuleFacts, RecordsConfig
from omsorgslyft.records.export import to_csv, to_json, to_xlsx
from omsorgslyft.records.model import Employee, ModuleVersion, Status

TODAY = date(2026, 6, 15)
GRUND = Course("grund", "Grund", "", ("kasam", "hbtqi"), (), (), 3650, 36, NewVersionRule.KEEP)
REFLECTION = "HEMLIG-REFLEKTION-7f3a: jag tänker på min mamma"


def config(db_urls: dict[str, str], tmp_path: Path, gradebook: bool = True) -> RecordsConfig:
    return RecordsConfig(
        modules_dir=tmp_path / "modules",
        courses_dir=tmp_path / "courses",
        records_url=db_urls["records"],
        submissions_url=db_urls["submissions"],
        gradebook_url=db_urls["gradebook"] if gradebook else "",
        answers_url=db_urls["answers"],
        course_dir=tmp_path / "grading",
        modules={
            "kasam": ModuleFacts("kasam", "Salutogenes och KASAM", 1, 80),
            "hbtqi": ModuleFacts("hbtqi", "Hbtqi-personers livsvillkor", 1, 100),
        },
        courses=(GRUND,),
    )


def person(number: str, username: str) -> Employee:
    return Employee(
        number=number,
        username=username,
        first_name=username.title(),
        last_name="Testsson",
        email=f"{username}@kommun.se",
        unit="Hemtjänst Norr",
        role="undersköterska",
        start=date(2026, 1, 1),
    )


@pytest.fixture
def env(db_urls: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """A records store with anna and bo, the submission log and the answer store."""
    cfg = config(db_urls, tmp_path)
    store = cfg.store(date(2025, 1, 1))
    store.apply_import(
        store.plan_import([person("1001", "anna"), person("1002", "bo")]), "p.csv", "t"
    )
    log = SubmissionLog(cfg.submissions_url)
    answers = AnswerStore(cfg.answers_url)
    yield cfg, store, log, answers
    store.dispose()
    log.engine.dispose()
    answers.engine.dispose()


def graded(
    log: SubmissionLog,
    sid: str,
    learner: str,
    module: str,
    score: float,
    max_score: float = 10.0,
    version: int = 1,
):  # type: ignore[no-untyped-def]
    sub, new = log.receive(sid, learner, module, version, {"k1": "x"})
    assert new
    log.finish(sid, DONE, {"score": score, "max_score": max_score, "passed": True})
    return sub


def by_module(records: list[Any], username: str) -> dict[str, Any]:
    return {r.module: r for r in records if r.employee.username == username}


# -- submission log -----------------------------------------------------------------------------
def test_attempts_come_from_the_log_and_pass_by_the_module_pass_mark(env) -> None:  # type: ignore[no-untyped-def]
    cfg, store, log, _ = env
    graded(log, "s1", "anna", "kasam", 4.0)
    graded(log, "s2", "anna", "kasam", 8.0)  # exactly 80 %
    graded(log, "s3", "bo", "hbtqi", 9.0)
    log.receive("s4", "anna", "hbtqi", 1, {})  # not graded yet
    log.receive("s5", "bo", "kasam", 1, {})
    log.finish("s5", FAILED, {"error": "Rättningen misslyckades."})

    attempts = store.attempts(cfg.pass_marks)
    assert set(attempts) == {("anna", "kasam"), ("bo", "hbtqi")}
    anna = attempts[("anna", "kasam")]
    assert [(a.score, a.max_score, a.passed, a.version) for a in anna] == [
        (4.0, 10.0, False, 1),
        (8.0, 10.0, True, 1),
    ]
    # the log said "passed" for every one: the module's pass mark decides, not the log
    assert [a.passed for a in attempts[("bo", "hbtqi")]] == [False]  # hbtqi needs 100 %
    assert [a.passed for a in store.attempts({"kasam": 81})[("anna", "kasam")]] == [False, False]
    assert [a.passed for a in store.attempts({})[("anna", "kasam")]] == [False, False]
    assert set(store.attempts(cfg.pass_marks, learner="bo")) == {("bo", "hbtqi")}

    records = compute_records(store, cfg.courses, cfg.pass_marks, TODAY)
    anna_records, bo_records = by_module(records, "anna"), by_module(records, "bo")
    assert anna_records["kasam"].status is Status.PASSED
    assert (anna_records["kasam"].attempts, anna_records["kasam"].latest_score) == (2, 80.0)
    assert anna_records["hbtqi"].status is Status.NOT_STARTED  # received, not graded
    assert bo_records["hbtqi"].status is Status.IN_PROGRESS
    assert bo_records["hbtqi"].latest_score == 90.0
    assert bo_records["kasam"].status is Status.NOT_STARTED  # grading failed: no attempt


def test_sources_that_do_not_exist_yet_read_as_empty(
    db_urls: dict[str, str], tmp_path: Path
) -> None:
    """Records work before the learn service or nbgrader have created their tables (on
    PostgreSQL all of them may share one database with the submission log)."""
    cfg = config(db_urls, tmp_path)
    store = cfg.store(date(2025, 1, 1))
    try:
        store.apply_import(store.plan_import([person("1001", "anna")]), "p.csv", "t")
        assert compute_records(store, cfg.courses, cfg.pass_marks, TODAY)[0].status is (
            Status.NOT_STARTED
        )
        log = SubmissionLog(cfg.submissions_url)
        graded(log, "s1", "anna", "kasam", 9.0)
        log.engine.dispose()
        records = by_module(compute_records(store, cfg.courses, cfg.pass_marks, TODAY), "anna")
        assert records["kasam"].status is Status.PASSED
        assert records["hbtqi"].status is Status.NOT_STARTED
        assert store.gradebook_scores() == {}
        assert store.started() == {}
    finally:
        store.dispose()


# -- started: saved answers, never reflections ------------------------------------------------
def test_started_comes_from_saved_answers_not_from_reflections(env) -> None:  # type: ignore[no-untyped-def]
    cfg, store, _, answers = env
    anna = answers.session(answers.open_session("anna", "kasam", 1))
    assert anna is not None
    answers.save(anna, "reflektion", "ref-1", REFLECTION)
    assert store.started() == {}
    records = by_module(compute_records(store, cfg.courses, cfg.pass_marks, TODAY), "anna")
    assert records["kasam"].status is Status.NOT_STARTED

    answers.save(anna, "ovning", "ov-enkel", "opt-1")
    bo = answers.session(answers.open_session("bo", "hbtqi", 2))
    assert bo is not None
    answers.save(bo, "svar", "k1", ["a", "b"])
    assert store.started() == {("anna", "kasam"): {1}, ("bo", "hbtqi"): {2}}
    assert store.started("bo") == {("bo", "hbtqi"): {2}}
    records = compute_records(store, cfg.courses, cfg.pass_marks, TODAY)
    assert by_module(records, "anna")["kasam"].status is Status.IN_PROGRESS
    assert by_module(records, "anna")["hbtqi"].status is Status.NOT_STARTED
    assert by_module(records, "bo")["hbtqi"].status is Status.IN_PROGRESS


def test_records_never_contain_reflection_text(env) -> None:  # type: ignore[no-untyped-def]
    cfg, store, log, answers = env
    for learner in ("anna", "bo"):
        s = answers.session(answers.open_session(learner, "kasam", 1))
        assert s is not None
        answers.save(s, "reflektion", "ref-1", REFLECTION)
        answers.save(s, "svar", "k1", "opt-1")
    graded(log, "s1", "anna", "kasam", 9.0)
    records = compute_records(store, cfg.courses, cfg.pass_marks, TODAY)
    assert len(records) == 4

    xlsx = to_xlsx(records)
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        parts = b"".join(z.read(name) for name in z.namelist()).decode("utf-8")
    exports = {
        "xlsx": parts,
        "csv": to_csv(records, "excel-sv").decode("utf-8-sig"),
        "csv-utf8": to_csv(records, "utf8").decode("utf-8"),
        "json": json.dumps(to_json(records), ensure_ascii=False),
        "records": repr(records),
    }
    for name, text in exports.items():
        assert "Anna" in text and "kasam" in text, name  # the export is not empty
        assert "HEMLIG-REFLEKTION" not in text, name
        assert "mamma" not in text, name


# -- module versions -------------------------------------------------------------------------------
def test_versions_remember_the_day_each_version_was_first_seen(env) -> None:  # type: ignore[no-untyped-def]
    _, store, _, _ = env
    assert store.versions()["kasam"] == ModuleVersion(
        "kasam", "Salutogenes och KASAM", 1, date(2025, 1, 1)
    )
    store.note_versions([("kasam", "Salutogenes och KASAM", 1)], date(2026, 1, 1))
    assert store.versions()["kasam"].released_on == date(2025, 1, 1)
    store.note_versions([("kasam", "KASAM, ny version", 2)], date(2026, 3, 1))
    assert store.versions()["kasam"] == ModuleVersion(
        "kasam", "KASAM, ny version", 2, date(2026, 3, 1)
    )
    assert store.versions()["hbtqi"].version == 1


# -- the nbgrader gradebook ----------------------------------------------------------------------
def real_gradebook(url: str):  # type: ignore[no-untyped-def]
    """nbgrader's own Gradebook on ``url``.

    nbgrader stamps a brand-new database with ``alembic heads`` in a subprocess (seconds on
    a small machine); creating nbgrader's own tables first skips only that stamp.
    """
    _ensure_alembic_on_path()
    from nbgrader.api import Base, Gradebook

    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return Gradebook(url, course_id=COURSE_ID)


def set_grades(gb: Any, module: str, student: str, field: str, **points: float) -> None:
    for cell, value in points.items():
        grade = gb.find_grade(cell.replace("_", "-"), module, module, student)
        setattr(grade, field, value)
    gb.db.commit()


@pytest.mark.slow
def test_gradebook_scores_replace_the_matching_attempt_and_manual_grading_counts(env) -> None:  # type: ignore[no-untyped-def]
    cfg, store, log, _ = env
    graded(log, "s1", "anna", "kasam", 4.0)
    latest = graded(log, "s2", "anna", "kasam", 9.0)
    bo = graded(log, "s3", "bo", "kasam", 10.0)

    gb = real_gradebook(cfg.gradebook_url)
    try:
        gb.add_assignment("kasam")
        gb.add_notebook("kasam", "kasam")
        for cell in ("test-k1", "test-k2"):
            gb.add_grade_cell(cell, "kasam", "kasam", max_score=5.0, cell_type="code")
        gb.add_student("anna")
        gb.add_student("bo")
        gb.add_submission("kasam", "anna", timestamp=latest.received_at)
        # bo's gradebook entry is from another submission than any in the log: not used
        gb.add_submission("kasam", "bo", timestamp=bo.received_at - timedelta(hours=1))
        set_grades(gb, "kasam", "anna", "auto_score", test_k1=5.0, test_k2=3.0)
        set_grades(gb, "kasam", "bo", "auto_score", test_k1=0.0, test_k2=0.0)

        everything = store.gradebook_scores(everything=True)
        assert {k: v[1:] for k, v in everything.items()} == {
            ("anna", "kasam"): (8.0, 10.0),
            ("bo", "kasam"): (0.0, 10.0),
        }
        # autograded scores are the log's own (copied from the gradebook at grading time):
        # nothing to correct until a person grades by hand
        assert store.gradebook_scores() == {} and store.gradebook_scores("anna") == {}
        attempts = store.attempts(cfg.pass_marks)
        assert [(a.score, a.passed) for a in attempts[("anna", "kasam")]] == [
            (4.0, False),
            (9.0, True),
        ]

        # a trainer grades by hand in formgrader: the gradebook's score wins, for the
        # submission it belongs to (anna's latest), on every path
        set_grades(gb, "kasam", "anna", "manual_score", test_k1=2.0)
        set_grades(gb, "kasam", "bo", "manual_score", test_k1=1.0)
        assert {k: v[1:] for k, v in store.gradebook_scores().items()} == {
            ("anna", "kasam"): (5.0, 10.0),
            ("bo", "kasam"): (1.0, 10.0),
        }
        assert store.gradebook_scores("anna") == {
            ("anna", "kasam"): store.gradebook_scores()[("anna", "kasam")]
        }
        attempts = store.attempts(cfg.pass_marks)
        assert [(a.score, a.passed) for a in attempts[("anna", "kasam")]] == [
            (4.0, False),
            (5.0, False),
        ]
        # bo's gradebook entry belongs to no submission in the log: not used
        assert [(a.score, a.passed) for a in attempts[("bo", "kasam")]] == [(10.0, True)]
        record = by_module(compute_records(store, cfg.courses, cfg.pass_marks, TODAY), "anna")
        assert record["kasam"].latest_score == 50.0
        assert record["kasam"].status is Status.IN_PROGRESS
        assert record["kasam"].passed_on is None
        assert (
            by_module(compute_records(store, cfg.courses, cfg.pass_marks, TODAY), "bo")[
                "kasam"
            ].latest_score
            == 100.0
        )

        # extra credit counts too
        set_grades(gb, "kasam", "anna", "extra_credit", test_k2=3.0)
        record = by_module(compute_records(store, cfg.courses, cfg.pass_marks, TODAY), "anna")
        assert record["kasam"].latest_score == 80.0
        assert record["kasam"].status is Status.PASSED
        assert store.attempts(cfg.pass_marks, learner="anna")[("anna", "kasam")][-1].score == 8.0
    finally:
        gb.close()
        gb.engine.dispose()
