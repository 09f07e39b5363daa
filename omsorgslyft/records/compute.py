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
    Status,
)
from omsorgslyft.records.rules import (
    Planned,
    began,
    plan,
    records_of,
    records_planned,
    requirements_for,
)
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
    # Everyone. The gradebook is read in a thread (it waits mostly on its database) while
    # the roster and the log are read here; its corrections are applied to the log's
    # attempts before the rules run, once. (Applying the rules while that thread still
    # ran made it wait for the GIL after each of its queries: on two cores it took three
    # times as long, and the records waited for it.) Saved answers matter only to records
    # that nothing else tells from "ej påbörjad" (a few in a hundred): they are looked up
    # for those alone, at the end (``pending``).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="records") as pool:
        grading = pool.submit(store.corrections)
        employees = store.employees()
        if not include_inactive:
            employees = [e for e in employees if e.employed_on(today)]
        if not employees:
            grading.cancel()
            return []
        rules = _Rules(courses, store.versions(), today)
        attempts = store.logged_attempts(pass_marks)
        store.correct(attempts, grading.result(), pass_marks)
    out: list[CompetenceRecord] = []
    pending: list[tuple[int, bool]] = []
    for e in employees:
        rules.into(e, attempts, out, pending)
    _resolve(store, out, pending)
    return out


def _resolve(
    store: RecordsStore, out: list[CompetenceRecord], pending: list[tuple[int, bool]]
) -> None:
    """Make the ``pending`` records (``NOT_STARTED`` for now) ``IN_PROGRESS`` where their
    saved answers say so."""
    if not pending:
        return
    found = store.started_of({(out[i].employee.username, out[i].module) for i, _ in pending})
    if not found:
        return
    for i, retake in pending:
        r = out[i]
        if began(found.get((r.employee.username, r.module)), retake, r.current_version):
            out[i] = r._replace(status=Status.IN_PROGRESS)


class _Rules:
    """The rules for one day, with each (role, unit)'s requirements worked out once."""

    def __init__(
        self, courses: Sequence[Course], versions: dict[str, ModuleVersion], today: date
    ) -> None:
        self.courses = courses
        self.versions = versions
        self.today = today
        self.requirements: dict[tuple[str, str], dict[str, Requirement]] = {}
        self.plans: dict[tuple[str, str], list[Planned]] = {}

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

    def into(
        self,
        e: Employee,
        attempts: dict[str, dict[str, list[Attempt]]],
        out: list[CompetenceRecord],
        pending: list[tuple[int, bool]],
    ) -> None:
        """:meth:`of` through :func:`records_planned`, appended to ``out``, with the saved
        answers left for later (``pending``)."""
        key = (e.role.casefold(), e.unit.casefold())
        planned = self.plans.get(key)
        if planned is None:
            reqs = self.requirements.get(key)
            if reqs is None:
                reqs = self.requirements[key] = requirements_for(e, self.courses)
            planned = self.plans[key] = plan(reqs, self.versions)
        records_planned(e, planned, attempts.get(e.username, _NONE), None, self.today, out, pending)


_NONE: dict[str, Any] = {}
