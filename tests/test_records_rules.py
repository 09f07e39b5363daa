"""The records rules: requirements and every status transition, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from omsorgslyft.dates import add_months
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records.model import (
    Attempt,
    Employee,
    ModuleVersion,
    Requirement,
    Status,
)
from omsorgslyft.records.rules import record, records_for, requirements_for

START = date(2026, 1, 1)
# 90 days after 1 January 2026: 30 more in January, 28 in February, 31 in March, then 1 April
DUE_90 = date(2026, 4, 1)


def employee(
    role: str = "undersköterska",
    unit: str = "Hemtjänst Norr",
    start: date = START,
    end: date | None = None,
) -> Employee:
    return Employee(
        number="1001",
        username="anna",
        first_name="Anna",
        last_name="Andersson",
        email="anna@kommun.se",
        unit=unit,
        role=role,
        start=start,
        end=end,
    )


def course(
    id: str = "grund",
    modules: tuple[str, ...] = ("kasam",),
    roles: tuple[str, ...] = (),
    units: tuple[str, ...] = (),
    due_days: int = 90,
    validity_months: int = 36,
    new_version: NewVersionRule = NewVersionRule.KEEP,
) -> Course:
    return Course(
        id=id,
        title=id.title(),
        description="",
        modules=modules,
        roles=roles,
        units=units,
        due_days=due_days,
        validity_months=validity_months,
        new_version=new_version,
    )


def requirement(due_days: int = 90, validity_months: int = 36, retake: bool = False) -> Requirement:
    return Requirement("kasam", due_days, validity_months, retake, ("grund",))


def attempt(on: date, passed: bool = True, version: int = 1, score: float = 9.0) -> Attempt:
    return Attempt(
        learner="anna",
        module="kasam",
        version=version,
        score=score if passed else 4.0,
        max_score=10.0,
        passed=passed,
        graded_at=datetime(on.year, on.month, on.day, 10, 30, tzinfo=UTC),
    )


V1 = ModuleVersion("kasam", "Salutogenes och KASAM", 1, date(2025, 1, 1))


# -- not started, in progress, overdue ------------------------------------------------------
def test_nothing_done_is_not_started_and_due_is_start_plus_days() -> None:
    r = record(employee(), requirement(), V1, [], (), date(2026, 2, 1))
    assert r.status is Status.NOT_STARTED
    assert r.due == DUE_90
    assert (r.attempts, r.latest_score, r.passed_on, r.valid_until, r.passed_version) == (
        0,
        None,
        None,
        None,
        None,
    )
    assert (r.module, r.module_title, r.courses, r.current_version) == (
        "kasam",
        "Salutogenes och KASAM",
        ("grund",),
        1,
    )


def test_due_counts_from_the_employees_own_start() -> None:
    r = record(employee(start=date(2025, 12, 1)), requirement(due_days=31), V1, [], (), START)
    assert r.due == date(2026, 1, 1)


def test_saved_answers_alone_mean_in_progress() -> None:
    r = record(employee(), requirement(), V1, [], {1}, date(2026, 2, 1))
    assert r.status is Status.IN_PROGRESS
    assert r.attempts == 0


def test_a_failed_attempt_means_in_progress_with_its_score() -> None:
    failed = attempt(date(2026, 1, 20), passed=False)
    r = record(employee(), requirement(), V1, [failed], (), date(2026, 2, 1))
    assert r.status is Status.IN_PROGRESS
    assert r.attempts == 1
    assert r.latest_score == 40.0
    assert r.passed_on is None


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (DUE_90 - timedelta(days=1), Status.NOT_STARTED),
        (DUE_90, Status.NOT_STARTED),  # the due day itself is still on time
        (DUE_90 + timedelta(days=1), Status.OVERDUE),
    ],
)
def test_not_started_becomes_overdue_the_day_after_due(today: date, status: Status) -> None:
    assert record(employee(), requirement(), V1, [], (), today).status is status


@pytest.mark.parametrize("started", [True, False])
def test_in_progress_becomes_overdue_after_due(started: bool) -> None:
    attempts = [] if started else [attempt(date(2026, 3, 1), passed=False)]
    versions = {1} if started else set()
    before = record(employee(), requirement(), V1, attempts, versions, DUE_90)
    after = record(employee(), requirement(), V1, attempts, versions, DUE_90 + timedelta(days=1))
    assert before.status is Status.IN_PROGRESS
    assert after.status is Status.OVERDUE


def test_a_late_pass_is_passed_not_overdue() -> None:
    late = attempt(DUE_90 + timedelta(days=10))
    r = record(employee(), requirement(), V1, [late], {1}, DUE_90 + timedelta(days=20))
    assert r.status is Status.PASSED
    assert r.due == DUE_90


# -- passed, expiring, expired ----------------------------------------------------------------
def test_pass_after_a_failed_attempt() -> None:
    attempts = [attempt(date(2026, 1, 10), passed=False), attempt(date(2026, 1, 12))]
    r = record(employee(), requirement(), V1, attempts, {1}, date(2026, 2, 1))
    assert r.status is Status.PASSED
    assert r.attempts == 2
    assert r.latest_score == 90.0
    assert r.passed_on == date(2026, 1, 12)
    assert r.valid_until == date(2029, 1, 12)
    assert r.passed_version == 1


def test_latest_score_is_a_rounded_percent() -> None:
    third = Attempt("anna", "kasam", 1, 2.0, 3.0, False, datetime(2026, 1, 5, tzinfo=UTC))
    assert record(employee(), requirement(), V1, [third], (), START).latest_score == 66.7


PASSED_ON = date(2026, 3, 10)
VALID_UNTIL = date(2027, 3, 10)  # 12 months


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (VALID_UNTIL - timedelta(days=61), Status.PASSED),
        (VALID_UNTIL - timedelta(days=60), Status.EXPIRING),  # exactly 60 days left
        (VALID_UNTIL - timedelta(days=59), Status.EXPIRING),
        (VALID_UNTIL, Status.EXPIRING),  # valid through its last day
        (VALID_UNTIL + timedelta(days=1), Status.EXPIRED),
        (VALID_UNTIL + timedelta(days=400), Status.EXPIRED),
    ],
)
def test_a_pass_expires(today: date, status: Status) -> None:
    r = record(employee(), requirement(validity_months=12), V1, [attempt(PASSED_ON)], (), today)
    assert r.valid_until == VALID_UNTIL
    assert r.status is status
    assert r.passed_on == PASSED_ON


def test_the_sixty_day_window_is_counted_in_days() -> None:
    # 2027-01-09 is 60 days before 2027-03-10 (22 left of January, 28 of February, 10 of March)
    r = record(
        employee(), requirement(validity_months=12), V1, [attempt(PASSED_ON)], (), date(2027, 1, 9)
    )
    assert r.status is Status.EXPIRING
    r = record(
        employee(), requirement(validity_months=12), V1, [attempt(PASSED_ON)], (), date(2027, 1, 8)
    )
    assert r.status is Status.PASSED


def test_an_expired_pass_long_after_due_is_expired_not_overdue() -> None:
    r = record(
        employee(),
        requirement(validity_months=1),
        V1,
        [attempt(date(2026, 1, 5))],
        {1},
        date(2027, 1, 1),
    )
    assert r.status is Status.EXPIRED
    assert r.valid_until == date(2026, 2, 5)


# -- calendar months ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 1, 15), 36, date(2029, 1, 15)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2026, 5, 20), 0, date(2026, 5, 20)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("passed_on", "valid_until"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),
    ],
)
def test_validity_is_counted_in_calendar_months(passed_on: date, valid_until: date) -> None:
    r = record(
        employee(start=passed_on),
        requirement(validity_months=1),
        V1,
        [attempt(passed_on)],
        (),
        passed_on,
    )
    assert r.valid_until == valid_until
    assert r.status is Status.EXPIRING


# -- new module versions ------------------------------------------------------------------------
V2 = ModuleVersion("kasam", "Salutogenes och KASAM", 2, date(2026, 5, 1))
OLD_PASS = attempt(date(2025, 3, 1), version=1)


def test_keep_lets_an_old_version_pass_count_until_it_expires() -> None:
    req = requirement(validity_months=36)
    r = record(employee(start=date(2024, 1, 1)), req, V2, [OLD_PASS], (), date(2026, 6, 1))
    assert r.status is Status.PASSED
    assert (r.passed_version, r.current_version) == (1, 2)
    assert r.valid_until == date(2028, 3, 1)
    later = record(employee(start=date(2024, 1, 1)), req, V2, [OLD_PASS], (), date(2028, 3, 2))
    assert later.status is Status.EXPIRED


def test_retake_ignores_an_old_version_pass_and_is_due_after_the_release() -> None:
    req = requirement(due_days=30, retake=True)
    e = employee(start=date(2024, 1, 1))
    r = record(e, req, V2, [OLD_PASS], (), date(2026, 5, 15))
    assert r.status is Status.NOT_STARTED  # an old attempt does not start the new version
    assert r.due == date(2026, 5, 31)  # 30 days after 1 May
    assert (r.passed_on, r.valid_until, r.passed_version) == (None, None, None)
    assert r.attempts == 1
    assert record(e, req, V2, [OLD_PASS], {1}, date(2026, 5, 15)).status is Status.NOT_STARTED
    assert record(e, req, V2, [OLD_PASS], {2}, date(2026, 5, 15)).status is Status.IN_PROGRESS
    assert record(e, req, V2, [OLD_PASS], {2}, date(2026, 5, 31)).status is Status.IN_PROGRESS
    assert record(e, req, V2, [OLD_PASS], {2}, date(2026, 6, 1)).status is Status.OVERDUE
    assert record(e, req, V2, [OLD_PASS], (), date(2026, 6, 1)).status is Status.OVERDUE


def test_retake_is_due_after_the_start_when_that_is_later_than_the_release() -> None:
    req = requirement(due_days=30, retake=True)
    e = employee(start=date(2026, 6, 10))
    r = record(e, req, V2, [OLD_PASS], (), date(2026, 6, 15))
    assert r.due == date(2026, 7, 10)


def test_retake_counts_a_failed_new_version_attempt_as_in_progress() -> None:
    req = requirement(due_days=30, retake=True)
    failed_v2 = attempt(date(2026, 5, 5), passed=False, version=2)
    r = record(
        employee(start=date(2024, 1, 1)), req, V2, [OLD_PASS, failed_v2], (), date(2026, 5, 10)
    )
    assert r.status is Status.IN_PROGRESS
    assert r.latest_score == 40.0


def test_retake_counts_a_pass_on_the_new_version() -> None:
    req = requirement(due_days=30, validity_months=24, retake=True)
    new_pass = attempt(date(2026, 5, 20), version=2)
    r = record(
        employee(start=date(2024, 1, 1)), req, V2, [OLD_PASS, new_pass], (), date(2026, 6, 1)
    )
    assert r.status is Status.PASSED
    assert (r.passed_on, r.passed_version) == (date(2026, 5, 20), 2)
    assert r.valid_until == date(2028, 5, 20)


def test_keep_uses_the_latest_pass() -> None:
    new_pass = attempt(date(2026, 5, 20), version=2)
    r = record(
        employee(start=date(2024, 1, 1)),
        requirement(),
        V2,
        [OLD_PASS, new_pass],
        (),
        date(2026, 6, 1),
    )
    assert (r.passed_on, r.passed_version) == (date(2026, 5, 20), 2)


def test_retake_without_any_earlier_pass_is_due_from_the_start() -> None:
    req = requirement(due_days=30, retake=True)
    r = record(employee(start=date(2026, 6, 1)), req, V2, [], (), date(2026, 6, 2))
    assert r.due == date(2026, 7, 1)
    assert r.status is Status.NOT_STARTED


# -- requirements -------------------------------------------------------------------------------
def test_overlapping_courses_merge_to_the_strictest_terms() -> None:
    base = course(
        "grund",
        modules=("kasam", "samiska"),
        roles=("undersköterska",),
        due_days=90,
        validity_months=36,
    )
    sami = course(
        "sami",
        modules=("samiska",),
        units=("Hemtjänst Fjällvägen",),
        due_days=30,
        validity_months=24,
        new_version=NewVersionRule.RETAKE,
    )
    # shorter due in one course, shorter validity in the other: each term is merged on its own
    lead = course("ledare", modules=("samiska",), due_days=14, validity_months=48)
    e = employee(unit="Hemtjänst Fjällvägen")
    reqs = requirements_for(e, [base, sami, lead])
    assert reqs["samiska"] == Requirement("samiska", 14, 24, True, ("grund", "sami", "ledare"))
    assert reqs["kasam"] == Requirement("kasam", 90, 36, False, ("grund",))
    reverse = requirements_for(e, [lead, sami, base])
    assert reverse["samiska"] == Requirement("samiska", 14, 24, True, ("ledare", "sami", "grund"))


def test_courses_for_other_roles_or_units_are_not_merged() -> None:
    base = course("grund", modules=("samiska",), due_days=90, validity_months=36)
    sami = course(
        "sami",
        modules=("samiska",),
        units=("Hemtjänst Fjällvägen",),
        due_days=30,
        validity_months=24,
        new_version=NewVersionRule.RETAKE,
    )
    reqs = requirements_for(employee(unit="Hemtjänst Norr"), [base, sami])
    assert reqs == {"samiska": Requirement("samiska", 90, 36, False, ("grund",))}


@pytest.mark.parametrize(
    ("roles", "units", "role", "unit", "applies"),
    [
        ((), (), "kock", "Köket", True),
        (("Undersköterska",), (), "undersköterska", "Hemtjänst Norr", True),
        (("undersköterska",), (), "UNDERSKÖTERSKA", "Hemtjänst Norr", True),
        (("undersköterska", "vårdbiträde"), (), "Vårdbiträde", "x", True),
        (("undersköterska",), (), "vårdbiträde", "Hemtjänst Norr", False),
        ((), ("Hemtjänst Fjällvägen",), "kock", "hemtjänst fjällvägen", True),
        ((), ("Hemtjänst Fjällvägen",), "kock", "Hemtjänst Norr", False),
        (("enhetschef",), ("Hemtjänst Fjällvägen",), "Enhetschef", "HEMTJÄNST FJÄLLVÄGEN", True),
        (("enhetschef",), ("Hemtjänst Fjällvägen",), "enhetschef", "Hemtjänst Norr", False),
        (("enhetschef",), ("Hemtjänst Fjällvägen",), "vårdbiträde", "Hemtjänst Fjällvägen", False),
    ],
)
def test_course_applies_to_role_and_unit(
    roles: tuple[str, ...], units: tuple[str, ...], role: str, unit: str, applies: bool
) -> None:
    assert course(roles=roles, units=units).applies_to(role, unit) is applies


def test_an_employee_no_course_requires_gets_no_records() -> None:
    only_nurses = course(roles=("undersköterska",))
    cook = employee(role="kock")
    reqs = requirements_for(cook, [only_nurses])
    assert reqs == {}
    assert records_for(cook, reqs, {"kasam": V1}, {}, {}, date(2026, 6, 1)) == []


def test_records_for_skips_modules_not_released_yet() -> None:
    both = course(modules=("kasam", "nymodul"))
    e = employee()
    reqs = requirements_for(e, [both])
    assert set(reqs) == {"kasam", "nymodul"}
    records = records_for(
        e,
        reqs,
        {"kasam": V1},
        {(e.username, "kasam"): [attempt(date(2026, 1, 10))]},
        {(e.username, "nymodul"): {1}},
        date(2026, 2, 1),
    )
    assert [(r.module, r.status) for r in records] == [("kasam", Status.PASSED)]


def test_records_for_gives_each_module_its_own_attempts_and_started() -> None:
    both = course(modules=("kasam", "hbtqi"))
    e = employee()
    hbtqi = ModuleVersion("hbtqi", "Hbtqi", 3, date(2025, 1, 1))
    records = records_for(
        e,
        requirements_for(e, [both]),
        {"kasam": V1, "hbtqi": hbtqi},
        {(e.username, "kasam"): [attempt(date(2026, 1, 10))]},
        {(e.username, "hbtqi"): {3}},
        date(2026, 2, 1),
    )
    by_module = {r.module: r for r in records}
    assert by_module["kasam"].status is Status.PASSED
    assert by_module["hbtqi"].status is Status.IN_PROGRESS
    assert by_module["hbtqi"].current_version == 3
    assert by_module["hbtqi"].module_title == "Hbtqi"
