"""What is due to whom on one day: pure, from competence records and the roster.

Every reminder has a :class:`Key` (kind, recipient's employee number, module, period) that
the log claims once: the same key is never sent twice. The period is what makes a
reminder new: the due date (before it), the valid-until date (before the pass runs out),
the week since the due date or since the pass ran out (while overdue or expired, at most
once a week), the ISO week (the manager's digest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from omsorgslyft.records.model import CompetenceRecord, Employee, Status

WEEK = 7
#: the longest a due or expiry reminder may be sent ahead (the log keeps a year of keys)
MAX_DAYS_AHEAD = 365


class Kind(StrEnum):
    DUE = "due"  # before "Klar senast"
    OVERDUE = "overdue"  # weekly after "Klar senast", while not passed
    EXPIRING = "expiring"  # before "Giltig till"
    EXPIRED = "expired"  # weekly after "Giltig till", while not renewed
    DIGEST = "digest"  # a manager's weekly letter


# the most pressing first (the order of a message's sections, and what its subject says)
KIND_ORDER = (Kind.OVERDUE, Kind.EXPIRED, Kind.DUE, Kind.EXPIRING, Kind.DIGEST)
WEEKLY = frozenset({Kind.OVERDUE, Kind.EXPIRED})


@dataclass(frozen=True)
class Rules:
    """When reminders go out (the operator's settings)."""

    due_days: int = 14  # days before "Klar senast"; 0 = no such reminder
    expiry_days: int = 30  # days before "Giltig till"; 0 = no such reminder
    digest_weekday: int = 1  # ISO weekday of the managers' digest: 1 Monday … 7 Sunday; 0 = none
    new_staff_days: int = 60  # "new staff": employed at most this many days ago

    def check(self) -> Rules:
        for name in ("due_days", "expiry_days", "new_staff_days"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_DAYS_AHEAD:
                raise ValueError(f"{name} must be 0 to {MAX_DAYS_AHEAD} (is {value})")
        if not 0 <= self.digest_weekday <= 7:
            raise ValueError(f"digest_weekday must be 0 to 7 (is {self.digest_weekday})")
        return self


@dataclass(frozen=True, order=True)
class Key:
    """What the log claims once: never the same key twice."""

    kind: Kind
    number: str  # the recipient's employee number
    module: str  # "" for a digest
    period: str


@dataclass(frozen=True)
class Item:
    key: Key
    record: CompetenceRecord


@dataclass(frozen=True)
class EmployeeReminder:
    """One e-mail to one employee: every reminder of theirs that is due today."""

    recipient: Employee
    items: tuple[Item, ...]

    @property
    def keys(self) -> tuple[Key, ...]:
        return tuple(i.key for i in self.items)

    def only(self, keys: Iterable[Key]) -> EmployeeReminder:
        """The same e-mail with only these reminders (the ones this run could claim)."""
        wanted = set(keys)
        return EmployeeReminder(self.recipient, tuple(i for i in self.items if i.key in wanted))


@dataclass(frozen=True)
class NewStarter:
    employee: Employee
    modules: tuple[CompetenceRecord, ...]  # required and not started


@dataclass(frozen=True)
class Digest:
    """A manager's weekly letter about their units."""

    recipient: Employee
    units: tuple[str, ...]
    week: str  # ISO week, "2026-W25"
    overdue: tuple[CompetenceRecord, ...]  # overdue, or the pass has run out
    expiring: tuple[CompetenceRecord, ...]  # the register's "förfaller inom 60 dagar"
    new_staff: tuple[NewStarter, ...]

    @property
    def key(self) -> Key:
        return Key(Kind.DIGEST, self.recipient.number, "", self.week)

    @property
    def keys(self) -> tuple[Key, ...]:
        return (self.key,)

    def only(self, keys: Iterable[Key]) -> Digest:
        return self

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.expiring or self.new_staff)


Planned = EmployeeReminder | Digest


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def employee_items(
    record: CompetenceRecord,
    today: date,
    rules: Rules,
    last_weekly: Mapping[tuple[Kind, str, str], date],
) -> list[Item]:
    """The reminders one record asks for today (none, or one)."""
    e = record.employee
    status = record.status
    key: Key | None = None
    if status in (Status.NOT_STARTED, Status.IN_PROGRESS):
        if rules.due_days and 0 <= (record.due - today).days <= rules.due_days:
            key = Key(Kind.DUE, e.number, record.module, record.due.isoformat())
    elif status is Status.OVERDUE:
        key = _weekly(Kind.OVERDUE, record, record.due, today, last_weekly)
    elif status in (Status.PASSED, Status.EXPIRING) and record.valid_until is not None:
        left = (record.valid_until - today).days
        if rules.expiry_days and 0 <= left <= rules.expiry_days:
            key = Key(Kind.EXPIRING, e.number, record.module, record.valid_until.isoformat())
    elif status is Status.EXPIRED and record.valid_until is not None:
        key = _weekly(Kind.EXPIRED, record, record.valid_until, today, last_weekly)
    return [Item(key, record)] if key is not None else []


def _weekly(
    kind: Kind,
    record: CompetenceRecord,
    since: date,
    today: date,
    last_weekly: Mapping[tuple[Kind, str, str], date],
) -> Key | None:
    """Once in each week after ``since`` (day 1 to 7 is week 0), and never within a week of
    the last one (a run that was missed for days does not send two in a row)."""
    days = (today - since).days
    if days < 1:
        return None
    last = last_weekly.get((kind, record.employee.number, record.module))
    if last is not None and (today - last).days < WEEK:
        return None
    return Key(
        kind, record.employee.number, record.module, f"{since.isoformat()}+w{(days - 1) // WEEK}"
    )


def reaches(person: Employee, today: date) -> bool:
    """Whether ``person`` gets e-mail today: employed today (not left) and started."""
    return person.employed_on(today) and person.start <= today and "@" in person.email


def plan_employees(
    records: Sequence[CompetenceRecord],
    today: date,
    rules: Rules,
    last_weekly: Mapping[tuple[Kind, str, str], date] | None = None,
) -> list[EmployeeReminder]:
    """One e-mail per employee with reminders due today (people who left get none)."""
    last = last_weekly or {}
    per_person: dict[str, tuple[Employee, list[Item]]] = {}
    for r in records:
        if not reaches(r.employee, today):
            continue
        items = employee_items(r, today, rules, last)
        if items:
            per_person.setdefault(r.employee.number, (r.employee, []))[1].extend(items)
    out = []
    for number in sorted(per_person):
        person, items = per_person[number]
        items.sort(key=lambda i: (KIND_ORDER.index(i.key.kind), i.record.module_title))
        out.append(EmployeeReminder(person, tuple(items)))
    return out


def _order(r: CompetenceRecord) -> tuple[str, str, str]:
    return (r.employee.unit, r.employee.name, r.module_title)


def plan_digests(
    records: Sequence[CompetenceRecord],
    employees: Iterable[Employee],
    today: date,
    rules: Rules,
) -> list[Digest]:
    """The managers' weekly letters: from the digest weekday on, once per ISO week (a
    week's letter missed on its weekday goes out later that week). Managers who have left
    get none; a letter with nothing in it is not sent."""
    if not rules.digest_weekday or today.isoweekday() < rules.digest_weekday:
        return []
    week = iso_week(today)
    by_unit: dict[str, list[CompetenceRecord]] = {}
    for r in records:
        if r.employee.employed_on(today):
            by_unit.setdefault(r.employee.unit.casefold(), []).append(r)
    out = []
    for manager in sorted(employees, key=lambda e: e.number):
        if not manager.manages or not reaches(manager, today):
            continue
        units = tuple(sorted(set(manager.manages)))
        mine = [r for u in units for r in by_unit.get(u.casefold(), [])]
        overdue = sorted(
            (r for r in mine if r.status in (Status.OVERDUE, Status.EXPIRED)), key=_order
        )
        expiring = sorted((r for r in mine if r.status is Status.EXPIRING), key=_order)
        starters: dict[str, list[CompetenceRecord]] = {}
        for r in sorted(mine, key=_order):
            new = 0 <= (today - r.employee.start).days <= rules.new_staff_days
            if new and r.status is Status.NOT_STARTED:
                starters.setdefault(r.employee.number, []).append(r)
        digest = Digest(
            manager,
            units,
            week,
            tuple(overdue),
            tuple(expiring),
            tuple(NewStarter(rs[0].employee, tuple(rs)) for rs in starters.values()),
        )
        if not digest.empty:
            out.append(digest)
    return out


def plan_day(
    records: Sequence[CompetenceRecord],
    employees: Iterable[Employee],
    today: date,
    rules: Rules,
    last_weekly: Mapping[tuple[Kind, str, str], date] | None = None,
) -> list[Planned]:
    """Everything due today, before the log says what has gone out already."""
    return [
        *plan_employees(records, today, rules, last_weekly),
        *plan_digests(records, employees, today, rules),
    ]
