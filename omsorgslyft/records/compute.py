"""Competence records for everyone (or one person) on one day: the records layer's core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from omsorgslyft.model import Course
from omsorgslyft.records.bulk import paused_gc
from omsorgslyft.records.model import CompetenceRecord, Employee, Requirement
from omsorgslyft.records.rules import records_for, requirements_for
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
    else:
        employees = store.employees()
    if not include_inactive:
        employees = [e for e in employees if e.employed_on(today)]
    if not employees:
        return []
    versions = store.versions()
    attempts = store.attempts(pass_marks, learner)
    started = store.started(learner)
    cache: dict[tuple[str, str], dict[str, Requirement]] = {}
    out: list[CompetenceRecord] = []
    for e in employees:
        key = (e.role.casefold(), e.unit.casefold())
        if key not in cache:
            cache[key] = requirements_for(e, courses)
        reqs = cache[key]
        out.extend(records_for(e, reqs, versions, attempts, started, today))
    return out
