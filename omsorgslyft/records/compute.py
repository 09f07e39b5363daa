"""Competence records for everyone (or one person) on one day: the records layer's core."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from omsorgslyft.model import Course
from omsorgslyft.records.bulk import paused_gc
from omsorgslyft.records.model import (
    Attempt,
    CompetenceRecord,
    Employee,
    ModuleVersion,
    Requirement,
)
from omsorgslyft.records.rules import records_of, requirements_for
from omsorgslyft.records.store import RecordsStore


def compute_records(
    store: RecordsStore,
    courses: Sequence[Course],
    pass_marks: dict[str, int],
    today: date,
    learner: str | None = None,
    include_inactive: bool = False,
) -> list[CompetenceRecord]:
    """Read roster, gradebook, submission log and started modules once; apply the rules."""
    with paused_gc():
        return _compute(store, courses, pass_marks, today, learner, include_inactive)


def _compute(
    store: RecordsStore,
    courses: Sequence[Course],
    pass_marks: dict[str, int],
    today: date,
    learner: str | None,
    include_inactive: bool,
) -> list[CompetenceRecord]:
    if learner is not None:
        one = store.employee_by_username(learner)
        employees: list[Employee] = [one] if one is not None else []
        employees = [e for e in employees if include_inactive or e.employed_on(today)]
        if not employees:
            return []
        versions = store.versions()
        rules = _Rules(courses, versions, today)
        return rules.of(
            employees[0],
            store.attempts_by_learner(pass_marks, learner),
            store.started_by_learner(learner),
        )
    # Everyone. Each read waits mostly on its database (or on SQLite, which lets go of the
    # GIL), so the gradebook and the answer store are read in threads while the roster
    # and the log are read here and the rules applied; then only the people the gradebook
    # corrects (a few in a hundred) are computed again.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="records") as pool:
        grading = pool.submit(store.corrections)
        reading = pool.submit(store.started_by_learner)
        employees = store.employees()
        if not include_inactive:
            employees = [e for e in employees if e.employed_on(today)]
        if not employees:
            return []
        rules = _Rules(courses, store.versions(), today)
        attempts = store.logged_attempts(pass_marks)
        started = reading.result()
        out: list[CompetenceRecord] = []
        where: dict[str, tuple[int, Employee]] = {}
        for e in employees:
            where[e.username] = (len(out), e)
            out.extend(rules.of(e, attempts, started))
        corrected = store.correct(attempts, grading.result(), pass_marks)
    for name in corrected:
        if name in where:
            at, e = where[name]
            again = rules.of(e, attempts, started)
            out[at : at + len(again)] = again
    return out


class _Rules:
    """The rules for one day, with each (role, unit)'s requirements worked out once."""

    def __init__(
        self, courses: Sequence[Course], versions: dict[str, ModuleVersion], today: date
    ) -> None:
        self.courses = courses
        self.versions = versions
        self.today = today
        self.requirements: dict[tuple[str, str], dict[str, Requirement]] = {}

    def of(
        self,
        e: Employee,
        attempts: dict[str, dict[str, list[Attempt]]],
        started: dict[str, dict[str, set[int]]],
    ) -> list[CompetenceRecord]:
        key = (e.role.casefold(), e.unit.casefold())
        reqs = self.requirements.get(key)
        if reqs is None:
            reqs = self.requirements[key] = requirements_for(e, self.courses)
        name = e.username
        return records_of(
            e, reqs, self.versions, attempts.get(name, _NONE), started.get(name, _NONE), self.today
        )


_NONE: dict[str, Any] = {}
