"""Pure rules: which modules an employee needs, and their status on a given day.

No I/O and no clock: ``today`` is always passed in, so every transition is testable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from functools import lru_cache

from omsorgslyft.dates import add_months
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records.model import (
    EXPIRING_DAYS,
    Attempt,
    CompetenceRecord,
    Employee,
    ModuleVersion,
    Requirement,
    Status,
)


def requirements_for(employee: Employee, courses: Iterable[Course]) -> dict[str, Requirement]:
    """The modules ``employee`` needs; where courses overlap the strictest terms win."""
    out: dict[str, Requirement] = {}
    for course in courses:
        if not course.applies_to(employee.role, employee.unit):
            continue
        retake = course.new_version == NewVersionRule.RETAKE
        for module in course.modules:
            have = out.get(module)
            if have is None:
                out[module] = Requirement(
                    module, course.due_days, course.validity_months, retake, (course.id,)
                )
            else:
                out[module] = Requirement(
                    module,
                    min(have.due_days, course.due_days),
                    min(have.validity_months, course.validity_months),
                    have.retake_on_new_version or retake,
                    (*have.courses, course.id),
                )
    return out


def record(
    employee: Employee,
    req: Requirement,
    version: ModuleVersion,
    attempts: list[Attempt],
    started_versions: Iterable[int],
    today: date,
) -> CompetenceRecord:
    """The status of one employee on one required module; ``attempts`` oldest first.

    Runs 200,000 times for a large municipality's export: plain code, no intermediate
    dictionaries; the calendar sums come from small caches (``_days``, ``_valid_until``).
    """
    retake = req.retake_on_new_version
    current = version.version
    best = None
    if attempts:
        latest = attempts[-1]  # most people have one attempt, and passed it
        if latest.passed and (not retake or latest.version >= current):
            best = latest
        else:
            for a in reversed(attempts):
                if a.passed and (not retake or a.version >= current):
                    best = a
                    break
    due = employee.start + _days(req.due_days)
    if retake and best is None and any(a.passed for a in attempts):
        # an older version was passed: the retake is due N days after the new version came
        due = max(employee.start, version.released_on) + _days(req.due_days)
    latest_score = None
    if attempts:
        latest = attempts[-1]
        if latest.max_score:
            latest_score = round(100.0 * latest.score / latest.max_score, 1)
    passed_on = valid_until = passed_version = None
    if best is not None:
        passed_on = best.graded_at.date()
        valid_until = _valid_until(passed_on, req.validity_months)
        passed_version = best.version
        if today > valid_until:
            status = Status.EXPIRED
        elif valid_until <= _expiring_until(today):  # (valid_until - today).days <= 60
            status = Status.EXPIRING
        else:
            status = Status.PASSED
    elif today > due:
        status = Status.OVERDUE
    elif any((not retake or v >= current) for v in started_versions) or any(
        (not retake or a.version >= current) for a in attempts
    ):
        status = Status.IN_PROGRESS
    else:
        status = Status.NOT_STARTED
    return CompetenceRecord(
        employee,
        req.module,
        version.title,
        req.courses,
        status,
        due,
        current,
        len(attempts),
        latest_score,
        passed_on,
        valid_until,
        passed_version,
    )


_DAYS: dict[int, timedelta] = {}


def _days(n: int) -> timedelta:
    found = _DAYS.get(n)
    if found is None:
        found = _DAYS[n] = timedelta(days=n)
    return found


@lru_cache(maxsize=16)
def _expiring_until(today: date) -> date:
    return today + timedelta(days=EXPIRING_DAYS)


@lru_cache(maxsize=65536)
def _valid_until(passed_on: date, months: int) -> date:
    """A pass's last valid day (the same few thousand days and validities recur)."""
    return add_months(passed_on, months)


def records_for(
    employee: Employee,
    requirements: Mapping[str, Requirement],
    versions: Mapping[str, ModuleVersion],
    attempts: Mapping[tuple[str, str], list[Attempt]],
    started: Mapping[tuple[str, str], set[int]],
    today: date,
) -> list[CompetenceRecord]:
    """Every record of one employee (modules that are not released yet are left out).

    ``attempts`` and ``started`` are keyed by (username, module), as the store reads them
    for everyone at once."""
    name = employee.username
    return [
        record(
            employee,
            req,
            versions[m],
            attempts.get((name, m), []),
            started.get((name, m), ()),
            today,
        )
        for m, req in requirements.items()
        if m in versions
    ]


_NONE: list[Attempt] = []


def records_of(
    employee: Employee,
    requirements: Mapping[str, Requirement],
    versions: Mapping[str, ModuleVersion],
    attempts: Mapping[str, list[Attempt]],
    started: Mapping[str, Iterable[int]],
    today: date,
) -> list[CompetenceRecord]:
    """:func:`records_for` with ``attempts`` and ``started`` of this employee alone, keyed
    by module (as :meth:`RecordsStore.attempts_by_learner` reads them for everyone): two
    lookups of a module's name instead of building a (username, module) key for each."""
    return [
        record(
            employee,
            req,
            versions[m],
            attempts.get(m, _NONE),
            started.get(m, ()),
            today,
        )
        for m, req in requirements.items()
        if m in versions
    ]
