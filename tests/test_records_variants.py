"""A knowledge check drawn from a question pool: a pass of any variant of a module version
(``kasam-v1-b``) is a pass of that module version in every part of the records service."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from databases import sqlite_url
from jupyterhub.services.auth import HubOAuth
from openpyxl import load_workbook
from test_records_stats import KASAM, asked_by, grade_variant, pool_module, wrong_option
from test_records_store import person, real_gradebook
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from omsorgslyft.authoring.draws import variant_name
from omsorgslyft.dates import add_months
from omsorgslyft.grading.submissions import DONE, SubmissionLog
from omsorgslyft.model import Course, Module, NewVersionRule
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import ModuleFacts, RecordsConfig
from omsorgslyft.records.export import HEADERS, to_csv, to_xlsx
from omsorgslyft.records.gdpr import register_extract
from omsorgslyft.records.handlers import HR_SCOPE, STATS_SCOPE, Records
from omsorgslyft.records.model import CompetenceRecord, Status
from omsorgslyft.records.service import make_app
from omsorgslyft.records.stats import plain

PREFIX = "/services/records/"


@dataclass
class World:
    module: Module
    config: RecordsConfig
    records: Records
    log: SubmissionLog
    count: int = 0

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.records.store

    def variant(self, letter: str) -> str:
        return variant_name(self.module.id, self.module.version, letter)

    def attempt(self, learner: str, letter: str, right: bool) -> tuple[dict[str, Any], datetime]:
        """A graded attempt of one variant: every asked question right, or every one wrong
        that can be (choice questions get a wrong option, the others no answer)."""
        self.count += 1
        sid = f"sub-{self.count}"
        asked = asked_by(self.module, letter)
        if right:
            answers = {q.id: q.correct_answer() for q in asked}
        else:
            answers = {
                q.id: wrong_option(q) for q in asked if any(not o.correct for o in q.options)
            }
        sub, new = self.log.receive(
            sid, learner, self.module.id, self.module.version, answers, self.variant(letter)
        )
        assert new
        result = grade_variant(self.module, letter, sid, answers)
        self.log.finish(sid, DONE, result)
        return result, sub.received_at

    def computed(self, username: str) -> CompetenceRecord:
        (record,) = (
            r
            for r in compute_records(
                self.store, self.config.courses, self.config.pass_marks, date.today()
            )
            if r.employee.username == username and r.module == self.module.id
        )
        return record


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Anna and Bo in the roster; the real kasam module as a pool; SQLite files."""
    kasam = pool_module()
    modules = tmp_path / "modules"
    shutil.copytree(KASAM, modules / "kasam")
    config = RecordsConfig(
        modules_dir=modules,
        courses_dir=tmp_path / "courses",
        records_url=sqlite_url(tmp_path, "records"),
        submissions_url=sqlite_url(tmp_path, "submissions"),
        gradebook_url=sqlite_url(tmp_path, "gradebook"),
        answers_url=sqlite_url(tmp_path, "answers"),
        modules={kasam.id: ModuleFacts(kasam.id, kasam.title, kasam.version, kasam.pass_mark)},
        courses=(Course("grund", "Grund", "", (kasam.id,), (), (), 3650, 36, NewVersionRule.KEEP),),
    )
    records = Records(config)
    records.store.apply_import(
        records.store.plan_import([person("1001", "anna"), person("1002", "bo")]), "p.csv", "t"
    )
    log = SubmissionLog(config.submissions_url)
    yield World(kasam, config, records, log)
    records.store.dispose()
    log.engine.dispose()


# -- the pages, served by the real app (only the hub's login is stood in for) -----------------
class HubUser(HubOAuth):  # type: ignore[misc]
    """Says every request comes from one HR person (with the statistics scope)."""

    def get_user(self, handler: Any, **kwargs: Any) -> dict[str, Any]:
        return {
            "kind": "user",
            "name": "hr.person",
            "admin": False,
            "groups": [],
            "scopes": [HR_SCOPE, STATS_SCOPE],
        }


def pages(records: Records, *paths: str) -> list[str]:
    auth = HubUser(
        api_token="t" * 32,
        api_url="http://127.0.0.1:9/hub/api",
        oauth_client_id="service-records",
        base_url=PREFIX,
        hub_prefix="/hub/",
    )

    async def fetch_all() -> list[str]:
        sock, port = bind_unused_port()
        server = HTTPServer(make_app(records, PREFIX, auth, "/hub/"))
        server.add_sockets([sock])
        client = AsyncHTTPClient()
        try:
            out = []
            for path in paths:
                reply = await client.fetch(f"http://127.0.0.1:{port}{PREFIX}{path}")
                out.append(reply.body.decode("utf-8"))
            return out
        finally:
            server.stop()
            client.close()

    return asyncio.run(fetch_all())


def row_of(html: str, text: str) -> str:
    """The table row (``<tr>…</tr>``) of ``html`` that holds ``text``."""
    rows: list[str] = re.findall(r"<tr>.*?</tr>", html, re.S)
    (row,) = [r for r in rows if text in r]
    return row


# -- a pass of any variant --------------------------------------------------------------------
def test_a_pass_of_variant_b_is_a_pass_of_the_module_version(world: World) -> None:
    failed, _ = world.attempt("anna", "a", right=False)
    passed, _ = world.attempt("anna", "b", right=True)
    assert not failed["passed"] and passed["passed"]
    world.attempt("bo", "b", right=False)
    today = date.today()

    attempts = world.store.attempts(world.config.pass_marks)
    assert set(attempts) == {("anna", "kasam"), ("bo", "kasam")}
    assert [(a.variant, a.passed) for a in attempts[("anna", "kasam")]] == [
        ("kasam-v1-a", False),
        ("kasam-v1-b", True),
    ]
    anna = world.computed("anna")
    assert (anna.status, anna.attempts, anna.latest_score) == (Status.PASSED, 2, 100.0)
    assert (anna.passed_on, anna.valid_until, anna.passed_version) == (
        today,
        add_months(today, 36),
        1,
    )
    bo = world.computed("bo")
    assert (bo.status, bo.passed_on) == (Status.IN_PROGRESS, None)

    records = compute_records(world.store, world.config.courses, world.config.pass_marks, today)
    rows = {
        r["Anställningsnummer"]: r
        for r in csv.DictReader(io.StringIO(to_csv(records, "utf8").decode()))
    }
    assert (rows["1001"]["Modul-id"], rows["1001"]["Status"]) == ("kasam", "godkänd")
    assert (rows["1001"]["Godkänd"], rows["1001"]["Giltig till"]) == (
        today.isoformat(),
        add_months(today, 36).isoformat(),
    )
    assert (rows["1001"]["Godkänd version"], rows["1001"]["Antal försök"]) == ("1", "2")
    assert (rows["1002"]["Status"], rows["1002"]["Godkänd"]) == ("pågår", "")
    sheet = load_workbook(io.BytesIO(to_xlsx(records))).worksheets[0]
    cells = {
        row[0]: dict(zip(HEADERS, row, strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert cells["1001"]["Status"] == "godkänd"
    assert cells["1001"]["Godkänd"].date() == today
    assert cells["1001"]["Giltig till"].date() == add_months(today, 36)
    assert cells["1002"]["Status"] == "pågår" and cells["1002"]["Godkänd"] is None

    employee, matrix = pages(world.records, "anstalld/1001", "matris")
    trainings, history = employee.split("<h2>Historik</h2>")
    training = row_of(trainings, world.module.title)
    assert "godkänd" in training
    assert today.isoformat() in training and add_months(today, 36).isoformat() in training
    assert "variant kasam-v1-b" in row_of(history, ">Godkänd</td>")
    assert "variant kasam-v1-a" in row_of(history, ">Inte godkänd</td>")
    assert "godkänd" in row_of(matrix, "/anstalld/1001")
    assert "pågår" in row_of(matrix, "/anstalld/1002")


def test_statistics_page_lists_unasked_pool_questions(world: World) -> None:
    world.attempt("anna", "a", right=True)
    world.attempt("bo", "b", right=False)
    asked = {q.id for letter in "ab" for q in asked_by(world.module, letter)}
    never = [q for q in world.module.graded_questions if q.id not in asked]
    assert never
    (page,) = pages(world.records, "statistik")
    for q in never:
        assert "Inte ställd än" in row_of(page, plain(q.prompt_html)), q.id
    first = asked_by(world.module, "a")[0]
    assert "100 %" in row_of(page, plain(first.prompt_html))
    assert "Inte ställd än" not in row_of(page, plain(first.prompt_html))
    assert f"Frågebanken har {len(world.module.graded_questions)} frågor" in page
    assert "Testsson" not in page and "@kommun.se" not in page  # no learner named


# -- formgrader corrections ---------------------------------------------------------------
def add_variant(gb: Any, module: Module, letter: str) -> str:
    """The variant's nbgrader assignment with one notebook and a grade cell per question."""
    name = variant_name(module.id, module.version, letter)
    gb.add_assignment(name)
    gb.add_notebook(name, name)
    for q in asked_by(module, letter):
        gb.add_grade_cell(f"test-{q.id}", name, name, max_score=float(q.points), cell_type="code")
    return name


def autograde(gb: Any, name: str, student: str, stamp: datetime, result: dict[str, Any]) -> None:
    """What nbgrader keeps of the grading service's attempt: its timestamp and scores."""
    gb.add_submission(name, student, timestamp=stamp)
    for q in result["questions"]:
        grade = gb.find_grade(f"test-{q['id']}", name, name, student)
        grade.auto_score = float(q["points"])
    gb.db.commit()


@pytest.mark.slow
def test_a_manual_grade_on_variant_b_corrects_that_attempt(world: World) -> None:
    failed, failed_at = world.attempt("anna", "a", right=False)
    passed, passed_at = world.attempt("anna", "b", right=True)
    assert not failed["passed"] and passed["passed"]
    gb = real_gradebook(world.config.gradebook_url)
    try:
        gb.add_student("anna")
        a = add_variant(gb, world.module, "a")
        b = add_variant(gb, world.module, "b")
        autograde(gb, a, "anna", failed_at, failed)
        autograde(gb, b, "anna", passed_at, passed)
        assert world.computed("anna").status is Status.PASSED

        # a trainer takes every point of variant b's first question back in formgrader
        # and enough more to fall under the pass mark
        top = passed["max_score"]
        taken = 0.0
        for q in passed["questions"]:
            if 100.0 * (top - taken) / top < world.module.pass_mark:
                break
            gb.find_grade(f"test-{q['id']}", b, b, "anna").manual_score = 0.0
            taken += q["max_points"]
        gb.db.commit()
        attempts = world.store.attempts(world.config.pass_marks)[("anna", "kasam")]
        assert [(a_.variant, a_.score, a_.passed) for a_ in attempts] == [
            (a, failed["score"], False),
            (b, top - taken, False),
        ]
        record = world.computed("anna")
        assert record.status is Status.IN_PROGRESS
        assert record.latest_score == round(100.0 * (top - taken) / top, 1)
        assert record.passed_on is None

        # and gives variant a's attempt full marks: that attempt passes, b stays corrected
        for q in failed["questions"]:
            gb.find_grade(f"test-{q['id']}", a, a, "anna").manual_score = float(q["max_points"])
        gb.db.commit()
        attempts = world.store.attempts(world.config.pass_marks, "anna")[("anna", "kasam")]
        assert [(a_.variant, a_.score, a_.passed) for a_ in attempts] == [
            (a, failed["max_score"], True),
            (b, top - taken, False),
        ]
        assert world.computed("anna").status is Status.PASSED

        # the register extract: gradebook rows say the module and the variant
        extract = register_extract(world.config, world.store, "1001")
        assert extract is not None
        assert sorted(
            (g["modul"], g["variant"], g["poang"], g["max_poang"]) for g in extract["gradebook"]
        ) == [
            ("kasam", a, failed["max_score"], failed["max_score"]),
            ("kasam", b, top - taken, top),
        ]
        assert [(s["modul"], s["variant"]) for s in extract["inlamningar"]] == [
            ("kasam", a),
            ("kasam", b),
        ]
    finally:
        gb.close()
        gb.engine.dispose()


def test_a_log_from_before_pools_reads_each_module_as_its_own_variant(tmp_path: Path) -> None:
    """A submission log the grading service has not upgraded yet has no ``variant``
    column: records still read it (read-only, so they cannot add the column)."""
    from sqlalchemy import create_engine, text

    url = sqlite_url(tmp_path, "submissions")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE submission (id VARCHAR(64) PRIMARY KEY, learner VARCHAR(200), "
                "module VARCHAR(100), version INTEGER, answers TEXT, status VARCHAR(20), "
                "score FLOAT, max_score FLOAT, result TEXT, received_at DATETIME, "
                "graded_at DATETIME)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO submission VALUES ('s1', 'anna', 'kasam', 1, '{}', :done, 9, 10, "
                "'{}', '2026-05-04 08:00:00.000000', '2026-05-04 08:00:05.000000')"
            ),
            {"done": DONE},
        )
    engine.dispose()
    config = RecordsConfig(
        modules_dir=tmp_path / "modules",
        courses_dir=tmp_path / "courses",
        records_url=sqlite_url(tmp_path, "records"),
        submissions_url=url,
        modules={"kasam": ModuleFacts("kasam", "KASAM", 1, 80)},
    )
    store = config.store()
    try:
        store.apply_import(store.plan_import([person("1001", "anna")]), "p.csv", "t")
        (attempt,) = store.attempts(config.pass_marks)[("anna", "kasam")]
        assert (attempt.variant, attempt.score, attempt.passed) == ("kasam", 9.0, True)
        extract = register_extract(config, store, "1001")
        assert extract is not None
        assert [(s["modul"], s["variant"]) for s in extract["inlamningar"]] == [("kasam", "kasam")]
    finally:
        store.dispose()
