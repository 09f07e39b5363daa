"""Personal data: a register extract, erasure or pseudonymisation, and the retention rule.

An extract holds everything stored about one person and nothing about anyone else. Private
reflections are never part of it: they are shown only to the learner, in the module.
Erasure is the one place where the records layer changes other stores (the submission log,
the gradebook, the answer store), because the law asks for it; it is logged without
personal data. Both erasure and pseudonymisation delete the person's certificates, so
their verification codes answer "not valid" from then on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import shutil
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select, update

from omsorgslyft.authoring.draws import module_of
from omsorgslyft.dates import add_months
from omsorgslyft.db import make_engine
from omsorgslyft.records import certificates
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.export import to_json
from omsorgslyft.records.model import Employee
from omsorgslyft.records.store import RecordsStore, employee, erasure

REFLECTIONS_NOTE = (
    "Privata reflektioner lämnas inte ut här. De sparas bara för dig och visas för dig "
    "i modulen när du är inloggad."
)


def find(store: RecordsStore, person: str) -> Employee | None:
    """An employee by anställningsnummer or username."""
    return store.employee_by_number(person) or store.employee_by_username(person)


def register_extract(
    config: RecordsConfig, store: RecordsStore, person: str, today: date | None = None
) -> dict[str, Any] | None:
    from omsorgslyft.grading.submissions import submission
    from omsorgslyft.learn.store import answer, result

    who = find(store, person)
    if who is None:
        return None
    day = today or date.today()
    extract: dict[str, Any] = {
        "skapat": datetime.now(UTC).isoformat(timespec="seconds"),
        "person": {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(who).items()
        },
        "kompetensregister": to_json(
            compute_records(
                store, config.courses, config.pass_marks, day, who.username, include_inactive=True
            )
        ),
        "inlamningar": [],
        "sparade_svar": [],
        "resultat": [],
        "gradebook": [],
        "intyg": certificates.of_person(store, who.number),
        "reflektioner": REFLECTIONS_NOTE,
    }
    log = store.source(config.submissions_url, "submission")
    if log is not None:
        columns = [c for c in submission.c if c.name != "variant"]
        query = select(*columns, store.variant_column(log)).where(
            submission.c.learner == who.username
        )
        with log.connect() as conn:
            for r in conn.execute(query):
                extract["inlamningar"].append(
                    {
                        "id": r.id,
                        "modul": r.module,
                        "version": r.version,
                        "variant": r.variant or r.module,
                        "svar": json.loads(r.answers),
                        "status": r.status,
                        "poang": r.score,
                        "max_poang": r.max_score,
                        "mottagen": r.received_at.isoformat(),
                        "rattad": r.graded_at.isoformat() if r.graded_at else None,
                    }
                )
    answers = store.source(config.answers_url, "answer") if config.answers_url else None
    if answers is not None:
        with answers.connect() as conn:
            for r in conn.execute(select(answer).where(answer.c.learner == who.username)):
                extract["sparade_svar"].append(
                    {
                        "modul": r.module,
                        "version": r.version,
                        "typ": r.kind,
                        "block": r.key,
                        "svar": json.loads(r.value),
                        "sparat": r.updated_at.isoformat(),
                    }
                )
            for r in conn.execute(select(result).where(result.c.learner == who.username)):
                extract["resultat"].append(
                    {
                        "modul": r.module,
                        "version": r.version,
                        "poang": r.score,
                        "max_poang": r.max_score,
                        "godkand": r.passed,
                        "rattad": r.graded_at.isoformat(),
                    }
                )
    if config.gradebook_url:
        # one row per nbgrader assignment: a variant of a module version (kasam-v1-b)
        for (student, assignment), (stamp, score, max_score) in store.gradebook_scores(
            who.username, everything=True
        ).items():
            if student == who.username:
                extract["gradebook"].append(
                    {
                        "modul": module_of(assignment),
                        "variant": assignment,
                        "inlamnad": stamp.isoformat() if stamp else None,
                        "poang": score,
                        "max_poang": max_score,
                    }
                )
    return extract


def _pseudonym(username: str) -> str:
    salt = secrets.token_bytes(16)  # thrown away: the pseudonym cannot be traced back
    return "anonym-" + hashlib.sha256(salt + username.encode()).hexdigest()[:16]


def _statistics_only(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("module", "version", "variant", "score", "max_score", "percent", "pass_mark", "passed")
    out = {k: result[k] for k in keep if k in result}
    if "questions" in result:
        out["questions"] = [
            {"id": q.get("id"), "correct": q.get("correct")} for q in result["questions"]
        ]
    return out


def erase(
    config: RecordsConfig, store: RecordsStore, person: str, mode: str, by: str
) -> str | None:
    """``pseudonymisera``: keep scores for statistics under a pseudonym, remove the rest;
    ``radera``: remove everything. Returns a summary in Swedish, or None if not found."""
    from omsorgslyft.grading.submissions import submission
    from omsorgslyft.learn.store import answer, attempt, page_session, reflection, result

    if mode not in ("pseudonymisera", "radera"):
        raise ValueError(mode)
    who = find(store, person)
    if who is None:
        return None
    name = who.username
    alias = _pseudonym(name)
    if config.answers_url and store.source(config.answers_url, "answer") is not None:
        engine = make_engine(config.answers_url)
        with engine.begin() as conn:
            for table in (answer, reflection, page_session, attempt):
                conn.execute(delete(table).where(table.c.learner == name))
            if mode == "radera":
                conn.execute(delete(result).where(result.c.learner == name))
            else:
                for row in conn.execute(
                    select(result.c.submission_id, result.c.details).where(result.c.learner == name)
                ).all():
                    conn.execute(
                        update(result)
                        .where(result.c.submission_id == row.submission_id)
                        .values(
                            learner=alias,
                            details=json.dumps(_statistics_only(json.loads(row.details))),
                        )
                    )
        engine.dispose()
    if store.source(config.submissions_url, "submission") is not None:
        engine = make_engine(config.submissions_url)
        with engine.begin() as conn:
            if mode == "radera":
                conn.execute(delete(submission).where(submission.c.learner == name))
            else:
                # keep what statistics need (score, pass, which questions were right),
                # drop the answers and the feedback that would tell what was chosen
                rows = conn.execute(
                    select(submission.c.id, submission.c.result).where(submission.c.learner == name)
                ).all()
                for row in rows:
                    kept = _statistics_only(json.loads(row.result) if row.result else {})
                    conn.execute(
                        update(submission)
                        .where(submission.c.id == row.id)
                        .values(learner=alias, answers="{}", result=json.dumps(kept))
                    )
        engine.dispose()
    if config.gradebook_url and store.source(config.gradebook_url, "student") is not None:
        from nbgrader.api import Gradebook, MissingEntry

        from omsorgslyft.grading.course import COURSE_ID

        with Gradebook(config.gradebook_url, COURSE_ID) as gb, contextlib.suppress(MissingEntry):
            gb.remove_student(name)
    if config.course_dir is not None:
        for sub in ("submitted", "autograded", "feedback"):
            folder = config.course_dir / sub / name
            if folder.is_dir() and folder.resolve().is_relative_to(config.course_dir.resolve()):
                shutil.rmtree(folder)
    now = datetime.now(UTC)
    from omsorgslyft.reminders import log as reminder_log

    # who was reminded of what, and when: personal data too (never the messages' text)
    reminder_log.forget(store.engine, who.number)
    certificates.ensure_table(store.engine)
    with store.engine.begin() as conn:
        # a certificate says nothing any more once its person is gone: both modes delete
        # them (verifying one answers as for a code that never existed)
        certificates.forget(conn, who.number)
        if mode == "radera":
            conn.execute(delete(employee).where(employee.c.number == who.number))
        else:
            conn.execute(
                update(employee)
                .where(employee.c.number == who.number)
                .values(
                    number=alias,
                    username=alias,
                    first_name="",
                    last_name="",
                    email="",
                    manages="",
                    active=False,
                    updated_at=now,
                    deactivated_at=now,
                )
            )
        conn.execute(erasure.insert().values(done_at=now, pseudonym=alias, mode=mode, done_by=by))
    verb = "raderade" if mode == "radera" else f"pseudonymiserade som {alias}"
    return f"Uppgifterna om anställningsnummer {who.number} är {verb}."


def due_for_retention(config: RecordsConfig, store: RecordsStore, today: date) -> list[str]:
    """Anställningsnummer of former employees whose employment ended more than the
    retention period ago (the end date, or the day they left the roster)."""
    if config.retention_months <= 0:
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                employee.c.number,
                employee.c.username,
                employee.c.end,
                employee.c.active,
                employee.c.deactivated_at,
            )
        ).all()
    out = []
    for r in rows:
        if r.username.startswith("anonym-"):
            continue
        ended = r.end
        if ended is None and not r.active and r.deactivated_at is not None:
            ended = r.deactivated_at.date()
        if ended is not None and add_months(ended, config.retention_months) < today:
            out.append(r.number)
    return out


def apply_retention(config: RecordsConfig, store: RecordsStore, today: date, by: str) -> list[str]:
    return [
        done
        for number in due_for_retention(config, store, today)
        if (done := erase(config, store, number, "pseudonymisera", by)) is not None
    ]
