"""The fast path of competence records gives exactly what the straightforward rules give.

``compute_records`` applies :func:`omsorgslyft.records.rules.records_planned` (the rules
worked out once per role and unit, inlined, with saved answers looked up only for the
records that need them); the straightforward path is :func:`records_for` on every
attempt and every saved answer of everyone. Both run here on random histories: several
attempts, failed and passed, two module versions under "behåll" and "gör om", modules not
released yet, saved answers of old and new versions, scores corrected by hand in the
gradebook, and leavers.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omsorgslyft.grading.submissions import DONE, FAILED, SubmissionLog, submission
from omsorgslyft.learn.store import AnswerStore, answer
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records import sources
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.model import (
    Attempt,
    CompetenceRecord,
    Employee,
    ModuleVersion,
    Status,
)
from omsorgslyft.records.rules import (
    began,
    plan,
    record,
    records_for,
    records_of,
    records_planned,
    requirements_for,
)
from omsorgslyft.records.store import RecordsStore, Sources

TODAY = date(2026, 6, 1)
MODULES = ("kasam", "hbtqi", "demens", "lyft", "basal", "ny")  # "ny" is not released
ROLES = ("undersköterska", "vårdbiträde", "enhetschef")
UNITS = ("Hemtjänst Norr", "Björkbacken")
PASS_MARKS = {"kasam": 80, "hbtqi": 100, "demens": 70, "lyft": 80, "basal": 60, "ny": 80}
COURSES = (
    Course("grund", "Grund", "", ("kasam", "hbtqi", "basal"), (), (), 90, 36, NewVersionRule.KEEP),
    Course(
        "vard",
        "Vård",
        "",
        ("kasam", "demens", "lyft", "ny"),
        ("undersköterska", "vårdbiträde"),
        (),
        180,
        12,
        NewVersionRule.RETAKE,
    ),
    Course(
        "chef",
        "Chef",
        "",
        ("lyft",),
        ("enhetschef",),
        ("Björkbacken",),
        30,
        24,
        NewVersionRule.KEEP,
    ),
)
# "kasam" and "lyft" have a second version (recent, and long ago); "ny" has none yet
VERSIONS = {
    "kasam": ModuleVersion("kasam", "KASAM", 2, TODAY - timedelta(days=40)),
    "hbtqi": ModuleVersion("hbtqi", "Hbtqi", 1, date(2024, 1, 1)),
    "demens": ModuleVersion("demens", "=Demens", 1, date(2024, 1, 1)),
    "lyft": ModuleVersion("lyft", "Lyft", 2, date(2025, 1, 1)),
    "basal": ModuleVersion("basal", "Basal", 1, date(2024, 1, 1)),
}


def employee(rng: random.Random, i: int) -> Employee:
    left = rng.random() < 0.15
    return Employee(
        number=f"{1000 + i}",
        username=f"p{i:03d}",
        first_name=f"Förnamn{i}",
        last_name="Testsson",
        email=f"p{i}@kommun.se",
        unit=rng.choice(UNITS),
        role=rng.choice(ROLES),
        start=TODAY - timedelta(days=rng.choice((5, 20, 60, 100, 400, 2000))),
        end=TODAY - timedelta(days=rng.randint(1, 90)) if left else None,
        active=not left or rng.random() < 0.5,
    )


def history(rng: random.Random, name: str, module: str) -> list[Attempt]:
    """Graded attempts, oldest first: any number, any version, some with no max score."""
    out = []
    when = datetime(2026, 5, 31, 12, tzinfo=UTC) - timedelta(days=rng.choice((1, 30, 200, 800)))
    for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3, 4))):
        max_score = rng.choice((10.0, 10.0, 10.0, 7.0, 0.0))
        score = float(rng.randint(0, int(max_score)))
        version = rng.choice((1, 2)) if module in ("kasam", "lyft") else 1
        passed = bool(max_score) and 100.0 * score / max_score >= PASS_MARKS[module]
        out.append(Attempt(name, module, version, score, max_score, passed, when, module))
        when += timedelta(days=rng.choice((0.01, 3, 100)))
    return out


def started_versions(rng: random.Random, module: str) -> set[int]:
    return (
        set(rng.sample((1, 2), rng.choice((0, 0, 1, 2))))
        if module in ("kasam", "lyft")
        else ({1} if rng.random() < 0.3 else set())
    )


@pytest.mark.parametrize("seed", range(8))
def test_records_planned_are_records_of_on_random_histories(seed: int) -> None:
    rng = random.Random(seed)
    people = [employee(rng, i) for i in range(150)]
    for today in (TODAY, TODAY + timedelta(days=400)):
        for e in people:
            attempts = {m: h for m in MODULES if (h := history(rng, e.username, m))}
            started = {m: v for m in MODULES if (v := started_versions(rng, m))}
            reqs = requirements_for(e, COURSES)
            want = records_of(e, reqs, VERSIONS, attempts, started, today)
            planned = plan(reqs, VERSIONS)

            got: list[CompetenceRecord] = []
            pending: list[tuple[int, bool]] = []
            records_planned(e, planned, attempts, started, today, got, pending)
            assert got == want and not pending

            # the saved answers left for later, as compute_records does
            later: list[CompetenceRecord] = []
            records_planned(e, planned, attempts, None, today, later, pending)
            for i, retake in pending:
                r = later[i]
                assert r.status is Status.NOT_STARTED
                if began(started.get(r.module), retake, r.current_version):
                    later[i] = r._replace(status=Status.IN_PROGRESS)
            assert later == want
            # and the rules one record at a time agree with both
            assert [
                record(
                    e,
                    reqs[r.module],
                    VERSIONS[r.module],
                    attempts.get(r.module, []),
                    started.get(r.module, ()),
                    today,
                )
                for r in want
            ] == want


# -- the whole path, on both databases ---------------------------------------------------------
def fill(
    rng: random.Random, store: RecordsStore, log_url: str, answers_url: str, people: list[Employee]
) -> list[dict[str, Any]]:
    """The log and the answer table of random histories; returns the log's rows."""
    log = SubmissionLog(log_url)
    answers = AnswerStore(answers_url)
    rows: list[dict[str, Any]] = []
    saved: list[dict[str, Any]] = []
    for e in people:
        for m in MODULES:
            for a in history(rng, e.username, m):
                received = a.graded_at - timedelta(seconds=7)
                rows.append(
                    {
                        "id": uuid.uuid4().hex,
                        "learner": e.username,
                        "module": m,
                        "version": a.version,
                        "variant": m,
                        "answers": "{}",
                        "status": DONE if rng.random() < 0.95 else FAILED,
                        "score": a.score,
                        "max_score": a.max_score,
                        "result": "{}",
                        "received_at": received,
                        "graded_at": a.graded_at,
                    }
                )
            for v in started_versions(rng, m):
                saved.append(
                    {
                        "learner": e.username,
                        "module": m,
                        "version": v,
                        "kind": "svar",
                        "key": "q1",
                        "value": '"a"',
                        "updated_at": datetime(2026, 5, 1, tzinfo=UTC),
                    }
                )
    with log.engine.begin() as conn:
        conn.execute(submission.insert(), rows)
    with answers.engine.begin() as conn:
        conn.execute(answer.insert(), saved)
    log.engine.dispose()
    answers.engine.dispose()
    return rows


def straightforward(
    store: RecordsStore, include_inactive: bool, today: date
) -> list[CompetenceRecord]:
    """Every attempt and every saved answer of everyone, through :func:`records_for`."""
    attempts = store.attempts(PASS_MARKS)
    started = store.started()
    versions = store.versions()
    return [
        r
        for e in store.employees()
        if include_inactive or e.employed_on(today)
        for r in records_for(e, requirements_for(e, COURSES), versions, attempts, started, today)
    ]


@pytest.mark.parametrize("seed", range(3))
def test_compute_records_is_the_straightforward_path_on_a_random_gradebook(
    db_urls: dict[str, str], tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    store = RecordsStore(
        db_urls["records"],
        Sources(db_urls["submissions"], db_urls["gradebook"], db_urls["answers"]),
    )
    try:
        people = [employee(rng, i) for i in range(120)]
        store.apply_import(store.plan_import(people), "p.csv", "t")
        # the leavers the roster no longer has (and those it has with an end date)
        store.apply_import(store.plan_import([e for e in people if e.active]), "p.csv", "t")
        assert any(not e.active for e in store.employees())
        for m, v in VERSIONS.items():
            store.note_versions([(m, v.title, 1)], date(2024, 1, 1))
            if v.version == 2:
                store.note_versions([(m, v.title, 2)], v.released_on)
        rows = fill(rng, store, db_urls["submissions"], db_urls["answers"], people)

        # formgrader's hand grading: a new score for some graded submissions (nbgrader keeps
        # the latest one per student and assignment; a correction of an older one, or of
        # none in the log, must change nothing)
        done = [r for r in rows if r["status"] == DONE]
        corrections: dict[tuple[str, str], list[tuple[str, datetime, float, float]]] = {}
        for r in rng.sample(done, len(done) // 6):
            stamp = r["received_at"] + (timedelta(hours=1) if rng.random() < 0.2 else timedelta())
            corrections.setdefault((r["learner"], r["module"]), []).append(
                (r["variant"], stamp.replace(tzinfo=None), float(rng.randint(0, 10)), 10.0)
            )
        monkeypatch.setattr(store, "corrections", lambda learner=None: corrections)
        logged = {
            (name, m): items
            for name, modules in store.logged_attempts(PASS_MARKS).items()
            for m, items in modules.items()
        }
        assert dict(store.attempts(PASS_MARKS)) != logged  # some scores were corrected

        for today in (TODAY, TODAY + timedelta(days=300)):
            for include_inactive in (False, True):
                want = straightforward(store, include_inactive, today)
                # saved answers a few learners a query, and (past the most queries) all at once
                for chunk, chunks in (
                    (sources.STARTED_CHUNK, sources.STARTED_CHUNKS),
                    (7, 40),
                    (7, 0),
                ):
                    monkeypatch.setattr(sources, "STARTED_CHUNK", chunk)
                    monkeypatch.setattr(sources, "STARTED_CHUNKS", chunks)
                    got = compute_records(
                        store, COURSES, PASS_MARKS, today, include_inactive=include_inactive
                    )
                    assert got == want
                if today == TODAY:  # the histories reach every status
                    assert {r.status for r in want} >= set(Status) - {Status.EXPIRING}
                for e in rng.sample(people, 10):  # one person's records: the same
                    mine = [r for r in want if r.employee.username == e.username]
                    assert (
                        compute_records(
                            store, COURSES, PASS_MARKS, today, e.username, include_inactive
                        )
                        == mine
                    )
    finally:
        store.dispose()
