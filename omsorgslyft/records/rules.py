"""Pure rules: which modules an employee needs, and their status on a given day.

No I/O and no clock: ``today`` is always passed in, so every transition is testable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

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


# -- the fast path: the same rules, worked out once per (role, unit) and inlined ---------------
class Planned(NamedTuple):
    """One required module that is released, with what every record of it shares for one
    (role, unit): :func:`records_planned` reads these instead of a requirement and a
    version per record."""

    module: str
    title: str
    courses: tuple[str, ...]
    current: int
    released_on: date
    retake: bool
    due: timedelta
    months: int


def plan(
    requirements: Mapping[str, Requirement], versions: Mapping[str, ModuleVersion]
) -> list[Planned]:
    """The :class:`Planned` modules of ``requirements``, in the order :func:`records_of`
    gives their records (modules that are not released yet are left out)."""
    return [
        Planned(
            m,
            versions[m].title,
            req.courses,
            versions[m].version,
            versions[m].released_on,
            req.retake_on_new_version,
            _days(req.due_days),
            req.validity_months,
        )
        for m, req in requirements.items()
        if m in versions
    ]


def began(versions: Iterable[int] | None, retake: bool, current: int) -> bool:
    """Whether saved answers of ``versions`` make a module in progress (under "gör om",
    only answers of the current version count)."""
    if not versions:
        return False
    return any((not retake or v >= current) for v in versions)


def records_planned(
    employee: Employee,
    planned: Sequence[Planned],
    attempts: Mapping[str, list[Attempt]],
    started: Mapping[str, Iterable[int]] | None,
    today: date,
    out: list[CompetenceRecord],
    pending: list[tuple[int, bool]],
) -> None:
    """Append to ``out`` exactly the records :func:`records_of` gives, computed inline.

    With ``started`` None (the answer table not read yet), a record that only the saved
    answers can tell from "ej påbörjad" is appended as ``NOT_STARTED``, and (its index in
    ``out``, whether its module is "gör om") is appended to ``pending``: the caller reads
    the answers of those few and makes them ``IN_PROGRESS`` where :func:`began` says so.
    ``tests/test_records_fast.py`` compares the two paths on random histories.
    """
    start = employee.start
    expiring = _expiring_until(today)
    add = out.append
    # tuple.__new__ makes each record without the named tuple's own Python __new__
    new, kind = tuple.__new__, CompetenceRecord
    for module, title, courses, current, released_on, retake, due_days, months in planned:
        items = attempts.get(module)
        if not items:
            due = start + due_days
            if today > due:
                status = Status.OVERDUE
            elif started is None:
                pending.append((len(out), retake))
                status = Status.NOT_STARTED
            elif began(started.get(module), retake, current):
                status = Status.IN_PROGRESS
            else:
                status = Status.NOT_STARTED
            add(
                new(
                    kind,
                    (
                        employee,
                        module,
                        title,
                        courses,
                        status,
                        due,
                        current,
                        0,
                        None,
                        None,
                        None,
                        None,
                    ),
                )
            )
            continue
        latest = items[-1]
        most = latest.max_score
        score = round(100.0 * latest.score / most, 1) if most else None
        best = None
        if latest.passed and (not retake or latest.version >= current):
            best = latest
        elif len(items) > 1:
            for a in reversed(items):
                if a.passed and (not retake or a.version >= current):
                    best = a
                    break
        if best is not None:
            passed_on = best.graded_at.date()
            valid_until = _valid_until(passed_on, months)
            if today > valid_until:
                status = Status.EXPIRED
            elif valid_until <= expiring:
                status = Status.EXPIRING
            else:
                status = Status.PASSED
            add(
                new(
                    kind,
                    (
                        employee,
                        module,
                        title,
                        courses,
                        status,
                        start + due_days,
                        current,
                        len(items),
                        score,
                        passed_on,
                        valid_until,
                        best.version,
                    ),
                )
            )
            continue
        if retake and any(a.passed for a in items):
            # an older version was passed: the retake is due N days after the new version
            due = max(start, released_on) + due_days
        else:
            due = start + due_days
        if today > due:
            status = Status.OVERDUE
        elif not retake or any(a.version >= current for a in items):
            status = Status.IN_PROGRESS
        elif started is None:
            pending.append((len(out), retake))
            status = Status.NOT_STARTED
        elif began(started.get(module), retake, current):
            status = Status.IN_PROGRESS
        else:
            status = Status.NOT_STARTED
        add(
            new(
                kind,
                (
                    employee,
                    module,
                    title,
                    courses,
                    status,
                    due,
                    current,
                    len(items),
                    score,
                    None,
                    None,
                    None,
                ),
            )
        )
