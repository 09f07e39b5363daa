"""Personal data: register extracts, pseudonymisation, erasure and the retention rule."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from databases import cli_db_args
from sqlalchemy import create_engine, inspect, select, update

from omsorgslyft.cli import main
from omsorgslyft.grading.course import COURSE_ID, _ensure_alembic_on_path
from omsorgslyft.grading.submissions import DONE, SubmissionLog, submission
from omsorgslyft.learn.store import AnswerStore, answer, page_session, reflection, result
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import ModuleFacts, RecordsConfig
from omsorgslyft.records.gdpr import (
    REFLECTIONS_NOTE,
    apply_retention,
    due_for_retention,
    erase,
    register_extract,
)
from omsorgslyft.records.model import Employee, Status
from omsorgslyft.records.store import RecordsStore, employee, erasure

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 6, 15)
GRUND = Course("grund", "Grund", "", ("kasam",), (), (), 3650, 36, NewVersionRule.KEEP)

ANNA = Employee(
    number="K5501",
    username="anna.andersson",
    first_name="Anna",
    last_name="Andersson",
    email="anna.andersson@kommun.se",
    unit="Hemtjänst Norr",
    role="undersköterska",
    start=date(2025, 1, 1),
)
BERTIL = Employee(
    number="K7781",
    username="bertil.bergstrom",
    first_name="Bertil",
    last_name="Bergström",
    email="bertil.bergstrom@kommun.se",
    unit="Hemtjänst Norr",
    role="undersköterska",
    start=date(2025, 1, 1),
)
ANNA_REFLECTION = "ANNA-REFLEKTION-e41c min pappa var sjuk"
BERTIL_REFLECTION = "BERTIL-REFLEKTION-9b2d"
BERTIL_TRACES = (
    "K7781",
    "bertil",
    "Bertil",
    "Bergström",
    "bertil.bergstrom@kommun.se",
    "BERTIL-SVAR",
    "BERTIL-SPARAT",
    BERTIL_REFLECTION,
)
ANNA_TRACES = ("anna.andersson", "Andersson", "anna.andersson@kommun.se", "K5501")


def make_config(db_urls: dict[str, str], tmp_path: Path, gradebook: bool) -> RecordsConfig:
    return RecordsConfig(
        modules_dir=tmp_path / "modules",
        courses_dir=tmp_path / "courses",
        records_url=db_urls["records"],
        submissions_url=db_urls["submissions"],
        gradebook_url=db_urls["gradebook"] if gradebook else "",
        answers_url=db_urls["answers"],
        course_dir=tmp_path / "grading",
        retention_months=24,
        modules={"kasam": ModuleFacts("kasam", "Salutogenes och KASAM", 1, 80)},
        courses=(GRUND,),
    )


def real_gradebook(url: str):  # type: ignore[no-untyped-def]
    """nbgrader's own Gradebook (its tables made first: skips only the alembic stamp)."""
    _ensure_alembic_on_path()
    from nbgrader.api import Base, Gradebook

    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return Gradebook(url, course_id=COURSE_ID)


def learner_data(
    cfg: RecordsConfig, who: Employee, tag: str, score: float, reflection_text: str
) -> datetime:
    """A graded submission, saved answers, a reflection, a result and course files."""
    log = SubmissionLog(cfg.submissions_url)
    sid = {"ANNA": "sub-1", "BERTIL": "sub-2"}[tag]  # random ids in real life
    sub, _ = log.receive(sid, who.username, "kasam", 1, {"k1": f"{tag}-SVAR-1"})
    chosen = [{"id": "k1", "correct": True, "feedback": f"{tag}-VALDE-DETTA"}]
    log.finish(
        sid,
        DONE,
        {"score": score, "max_score": 10.0, "passed": score >= 8, "questions": chosen},
    )
    log.engine.dispose()
    answers = AnswerStore(cfg.answers_url)
    s = answers.session(answers.open_session(who.username, "kasam", 1))
    assert s is not None
    answers.save(s, "svar", "k1", f"{tag}-SPARAT")
    answers.save(s, "reflektion", "ref-1", reflection_text)
    answers.record_result(
        who.username,
        "kasam",
        1,
        sid,
        {
            "score": score,
            "max_score": 10.0,
            "passed": score >= 8,
            "questions": [{"id": "k1", "correct": True, "feedback": f"{tag}-VALDE-DETTA"}],
        },
    )
    answers.engine.dispose()
    assert cfg.course_dir is not None
    for sub_dir in ("submitted", "autograded", "feedback"):
        folder = cfg.course_dir / sub_dir / who.username / "kasam"
        folder.mkdir(parents=True)
        (folder / "kasam.ipynb").write_text(f'{{"svar": "{tag}"}}', encoding="utf-8")
    return sub.received_at


@pytest.fixture
def world(db_urls: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Anna and Bertil with data in the roster, the log, the answer store, the gradebook and
    the course directory."""
    cfg = make_config(db_urls, tmp_path, gradebook=True)
    store = cfg.store(date(2025, 1, 1))
    store.apply_import(store.plan_import([ANNA, BERTIL]), "personal.csv", "test")
    stamps = {
        who.username: learner_data(cfg, who, tag, score, text)
        for who, tag, score, text in (
            (ANNA, "ANNA", 9.0, ANNA_REFLECTION),
            (BERTIL, "BERTIL", 7.0, BERTIL_REFLECTION),
        )
    }
    gb = real_gradebook(cfg.gradebook_url)
    gb.add_assignment("kasam")
    gb.add_notebook("kasam", "kasam")
    gb.add_grade_cell("test-k1", "kasam", "kasam", max_score=10.0, cell_type="code")
    for who, points in ((ANNA, 9.0), (BERTIL, 7.0)):
        gb.add_student(
            who.username, first_name=who.first_name, last_name=who.last_name, email=who.email
        )
        gb.add_submission("kasam", who.username, timestamp=stamps[who.username])
        gb.find_grade("test-k1", "kasam", "kasam", who.username).auto_score = points
    gb.db.commit()
    gb.close()
    gb.engine.dispose()
    yield cfg, store
    store.dispose()


def dump(cfg: RecordsConfig) -> str:
    """Every row of every table in every database, as text."""
    out = []
    for url in dict.fromkeys(
        [cfg.records_url, cfg.submissions_url, cfg.gradebook_url, cfg.answers_url]
    ):
        engine = create_engine(url)
        with engine.connect() as conn:
            for name in inspect(engine).get_table_names():
                rows = conn.exec_driver_sql(f'SELECT * FROM "{name}"').all()
                out.append(f"{name}: {rows!r}")
        engine.dispose()
    return "\n".join(out)


def rows(url: str, table: Any, **where: str) -> list[Any]:
    engine = create_engine(url)
    query = select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        found = list(conn.execute(query))
    engine.dispose()
    return found


def students(cfg: RecordsConfig) -> set[str]:
    gb = real_gradebook(cfg.gradebook_url)
    try:
        return {s.id for s in gb.students}
    finally:
        gb.close()
        gb.engine.dispose()


def files(cfg: RecordsConfig) -> set[str]:
    assert cfg.course_dir is not None
    return {p.relative_to(cfg.course_dir).as_posix() for p in cfg.course_dir.glob("*/*")}


# -- register extract ------------------------------------------------------------------------------
@pytest.mark.slow
def test_extract_holds_everything_about_one_person_and_nothing_else(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    extract = register_extract(cfg, store, "K5501", today=TODAY)
    assert extract is not None
    assert extract["person"] == {
        "number": "K5501",
        "username": "anna.andersson",
        "first_name": "Anna",
        "last_name": "Andersson",
        "email": "anna.andersson@kommun.se",
        "unit": "Hemtjänst Norr",
        "role": "undersköterska",
        "start": "2025-01-01",
        "end": None,
        "active": True,
        "manages": (),  # the units she is the manager of: none
    }
    assert [
        (r["module"], r["status"], r["latest_score"]) for r in extract["kompetensregister"]
    ] == [("kasam", "godkänd", 90.0)]
    (sub,) = extract["inlamningar"]
    assert (sub["id"], sub["modul"], sub["svar"], sub["poang"], sub["max_poang"]) == (
        "sub-1",
        "kasam",
        {"k1": "ANNA-SVAR-1"},
        9.0,
        10.0,
    )
    assert [(a["typ"], a["block"], a["svar"]) for a in extract["sparade_svar"]] == [
        ("svar", "k1", "ANNA-SPARAT")
    ]
    assert [(r["poang"], r["godkand"]) for r in extract["resultat"]] == [(9.0, True)]
    assert [(g["modul"], g["poang"], g["max_poang"]) for g in extract["gradebook"]] == [
        ("kasam", 9.0, 10.0)
    ]
    assert extract["reflektioner"] == REFLECTIONS_NOTE

    text = json.dumps(extract, ensure_ascii=False)
    for trace in BERTIL_TRACES:
        assert trace not in text, trace
    assert "ANNA-REFLEKTION" not in text
    assert "pappa" not in text

    by_username = register_extract(cfg, store, "anna.andersson", today=TODAY)
    assert by_username is not None
    assert by_username["person"] == extract["person"]
    assert register_extract(cfg, store, "ingen-sadan", today=TODAY) is None


# -- pseudonymisation and erasure --------------------------------------------------------------------
@pytest.mark.slow
def test_pseudonymisation_removes_identity_everywhere_and_keeps_scores(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    # she was reminded once: who, what, when is hers too
    from omsorgslyft.reminders.log import ReminderLog
    from omsorgslyft.reminders.plan import Key, Kind

    reminded = ReminderLog(store.engine)
    key = Key(next(iter(Kind)), "K5501", "kasam", "2026-01-01")
    assert reminded.claim([key], "anna.andersson@kommun.se", "<m1@x>", TODAY) == [key]
    before = dump(cfg)
    assert all(trace in before for trace in ANNA_TRACES)
    message = erase(cfg, store, "anna.andersson", "pseudonymisera", by="hr-lisa")
    assert message is not None
    assert message.startswith(
        "Uppgifterna om anställningsnummer K5501 är pseudonymiserade som anonym-"
    )

    (logged,) = rows(cfg.records_url, erasure)
    alias = logged.pseudonym
    assert alias.startswith("anonym-") and alias in message
    assert (logged.mode, logged.done_by) == ("pseudonymisera", "hr-lisa")
    assert not any(t in repr(tuple(logged)) for t in ("anna", "Anna", "Andersson", "K5501"))

    after = dump(cfg)
    for trace in (*ANNA_TRACES, "ANNA-SVAR", "ANNA-SPARAT", ANNA_REFLECTION):
        assert trace not in after, trace
    for trace in BERTIL_TRACES:  # Bertil keeps everything
        assert trace in after, trace

    # the roster keeps an anonymous, inactive row
    assert store.employee_by_number("K5501") is None
    assert store.employee_by_username("anna.andersson") is None
    anonymous = store.employee_by_username(alias)
    assert anonymous is not None
    assert (anonymous.number, anonymous.first_name, anonymous.last_name, anonymous.email) == (
        alias,
        "",
        "",
        "",
    )
    assert anonymous.active is False
    # scores stay, under the pseudonym, in the log and the learner's results
    (kept,) = rows(cfg.submissions_url, submission, learner=alias)
    assert (kept.score, kept.max_score, kept.status, json.loads(kept.answers)) == (
        9.0,
        10.0,
        DONE,
        {},
    )
    (kept_result,) = rows(cfg.answers_url, result, learner=alias)
    assert (kept_result.score, kept_result.passed) == (9.0, True)
    # what statistics need stays; feedback that would tell what was chosen goes
    for details in (kept.result, kept_result.details):
        assert "VALDE-DETTA" not in details
        assert json.loads(details)["questions"] == [{"id": "k1", "correct": True}]
    for table in (answer, reflection, page_session):
        assert rows(cfg.answers_url, table, learner=alias) == []
        assert [r.learner for r in rows(cfg.answers_url, table)] == ["bertil.bergstrom"]
    (record,) = compute_records(
        store, cfg.courses, cfg.pass_marks, TODAY, learner=alias, include_inactive=True
    )
    assert (record.status, record.latest_score) == (Status.PASSED, 90.0)
    # nbgrader and the course files
    assert students(cfg) == {"bertil.bergstrom"}
    assert files(cfg) == {
        "submitted/bertil.bergstrom",
        "autograded/bertil.bergstrom",
        "feedback/bertil.bergstrom",
    }
    assert erase(cfg, store, "anna.andersson", "pseudonymisera", by="hr") is None


@pytest.mark.slow
def test_erasure_removes_everything(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    message = erase(cfg, store, "K5501", "radera", by="hr-lisa")
    assert message == "Uppgifterna om anställningsnummer K5501 är raderade."
    after = dump(cfg)
    for trace in (*ANNA_TRACES, "ANNA-SVAR", "ANNA-SPARAT", ANNA_REFLECTION):
        assert trace not in after, trace
    for trace in BERTIL_TRACES:
        assert trace in after, trace
    assert [e.username for e in store.employees()] == ["bertil.bergstrom"]
    assert [r.learner for r in rows(cfg.submissions_url, submission)] == ["bertil.bergstrom"]
    for table in (answer, reflection, page_session, result):
        assert [r.learner for r in rows(cfg.answers_url, table)] == ["bertil.bergstrom"]
    assert students(cfg) == {"bertil.bergstrom"}
    assert all("anna" not in f for f in files(cfg))
    (logged,) = rows(cfg.records_url, erasure)
    assert (logged.mode, logged.done_by) == ("radera", "hr-lisa")
    assert logged.pseudonym.startswith("anonym-")
    with pytest.raises(ValueError):
        erase(cfg, store, "K7781", "glom", by="hr")
    assert store.employee_by_number("K7781") is not None


# -- retention ----------------------------------------------------------------------------------------
def _former(number: str, end: date | None = None) -> Employee:
    return replace(
        BERTIL,
        number=number,
        username=f"user{number}",
        email=f"user{number}@kommun.se",
        last_name=f"Efternamn{number}",
        end=end,
    )


def test_retention_pseudonymises_only_those_who_left_long_enough_ago(
    db_urls: dict[str, str], tmp_path: Path
) -> None:
    cfg = make_config(db_urls, tmp_path, gradebook=False)
    store = cfg.store(date(2025, 1, 1))
    try:
        people = [
            _former("R1", end=date(2024, 6, 14)),  # 24 months and a day: erased
            _former("R2", end=date(2024, 6, 15)),  # exactly 24 months: kept
            _former("R3"),  # still employed
            _former("R4"),  # left the roster long ago
            _former("R5"),  # left the roster recently
            _former("R6", end=date(2026, 1, 1)),
        ]
        store.apply_import(store.plan_import(people), "v1.csv", "test")
        store.apply_import(
            store.plan_import([p for p in people if p.number not in ("R4", "R5")]), "v2.csv", "test"
        )
        with store.engine.begin() as conn:
            for number, left in (
                ("R4", datetime(2024, 1, 10, 12, tzinfo=UTC)),
                ("R5", datetime(2025, 1, 10, 12, tzinfo=UTC)),
            ):
                conn.execute(
                    update(employee).where(employee.c.number == number).values(deactivated_at=left)
                )
        log = SubmissionLog(cfg.submissions_url)
        log.receive("x1", "userR1", "kasam", 1, {"k1": "a"})
        log.finish("x1", DONE, {"score": 9.0, "max_score": 10.0})
        log.engine.dispose()

        assert (
            sorted(due_for_retention(replace(cfg, retention_months=0), store, date(2040, 1, 1)))
            == []
        )
        assert (
            apply_retention(replace(cfg, retention_months=0), store, date(2040, 1, 1), by="g") == []
        )
        assert len(store.employees()) == 6

        assert sorted(due_for_retention(cfg, store, TODAY)) == ["R1", "R4"]
        done = apply_retention(cfg, store, TODAY, by="gallring")
        assert len(done) == 2
        assert all("pseudonymiserade som anonym-" in d for d in done)
        remaining = {e.number for e in store.employees()}
        assert {"R2", "R3", "R5", "R6"} <= remaining
        assert "R1" not in remaining and "R4" not in remaining
        anonymous = [e for e in store.employees() if e.username.startswith("anonym-")]
        assert len(anonymous) == 2
        assert all(e.first_name == e.last_name == e.email == "" for e in anonymous)
        (kept,) = rows(cfg.submissions_url, submission)
        assert kept.learner.startswith("anonym-") and kept.score == 9.0
        assert {r.mode for r in rows(cfg.records_url, erasure)} == {"pseudonymisera"}
        # done once: the pseudonymised are not due again
        assert due_for_retention(cfg, store, TODAY) == []
        assert apply_retention(cfg, store, TODAY, by="gallring") == []
    finally:
        store.dispose()


# -- the command line -------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_extract_pseudonymise_and_retention(
    tmp_path: Path, db_urls: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "projekt"
    shutil.copytree(ROOT / "modules", root / "modules")
    shutil.copytree(ROOT / "courses", root / "courses")
    roster = tmp_path / "personal.csv"
    roster.write_text(
        "anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från;anställd till;användarnamn\n"
        "K5501;Anna;Andersson;anna.andersson@kommun.se;Hemtjänst Norr;undersköterska;2025-01-01;2026-01-31;anna.andersson\n"
        "K7781;Bertil;Bergström;bertil.bergstrom@kommun.se;Hemtjänst Norr;undersköterska;2025-01-01;;bertil.bergstrom\n",
        encoding="utf-8",
    )
    urls = cli_db_args(db_urls)
    base = ["--root", str(root)]
    assert main([*base, "roster", "import", str(roster), *urls]) == 0
    capsys.readouterr()

    assert main([*base, "gdpr", "utdrag", "K5501", *urls]) == 0
    extract = json.loads(capsys.readouterr().out)
    assert extract["person"]["email"] == "anna.andersson@kommun.se"
    assert {r["module"] for r in extract["kompetensregister"]} == {
        "kasam",
        "hbtqi",
        "samiska",
        "personcentrering",
    }
    assert "Bertil" not in json.dumps(extract, ensure_ascii=False)

    assert main([*base, "gdpr", "gallra", "--datum", "2027-12-31", *urls]) == 0
    assert "Gallring: 0 tidigare anställda pseudonymiserade." in capsys.readouterr().out
    assert main([*base, "gdpr", "gallra", "--datum", "2028-02-01", *urls]) == 0
    assert "Gallring: 1 tidigare anställda pseudonymiserade." in capsys.readouterr().out
    assert main([*base, "gdpr", "utdrag", "K5501", *urls]) == 1
    assert "Ingen med anställningsnummer eller användarnamn K5501." in capsys.readouterr().err

    assert main([*base, "gdpr", "radera", "bertil.bergstrom", *urls]) == 0
    assert "K7781 är raderade" in capsys.readouterr().out
    store = RecordsStore(db_urls["records"])
    try:
        assert [e.username[:7] for e in store.employees()] == ["anonym-"]
    finally:
        store.dispose()
