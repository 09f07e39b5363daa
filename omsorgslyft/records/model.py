"""The records domain: employees, requirements, graded attempts and competence records.

Frozen dataclasses with no I/O; :mod:`omsorgslyft.records.rules` computes records from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple


class Status(StrEnum):
    """A competence record's status, in the words HR uses."""

    NOT_STARTED = "ej påbörjad"
    IN_PROGRESS = "pågår"
    PASSED = "godkänd"
    EXPIRING = "förfaller inom 60 dagar"
    EXPIRED = "förfallen"
    OVERDUE = "försenad"


# the order statuses are listed in (worst first, as HR reads them)
STATUS_ORDER = (
    Status.OVERDUE,
    Status.EXPIRED,
    Status.EXPIRING,
    Status.IN_PROGRESS,
    Status.NOT_STARTED,
    Status.PASSED,
)
# statuses that count as "has valid training" for coverage
VALID = frozenset({Status.PASSED, Status.EXPIRING})
EXPIRING_DAYS = 60


@dataclass(frozen=True)
class Employee:
    """One person in the staff roster (the HR system is the source of truth)."""

    number: str  # anställningsnummer
    username: str  # the hub login name
    first_name: str
    last_name: str
    email: str
    unit: str
    role: str
    start: date
    end: date | None = None
    active: bool = True
    #: the units this person is the manager (enhetschef) of, from the roster's
    #: "chef för enhet" column
    manages: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def employed_on(self, day: date) -> bool:
        return self.active and (self.end is None or self.end >= day)


@dataclass(frozen=True)
class Requirement:
    """One module an employee must have, merged over every course that asks for it."""

    module: str
    due_days: int
    validity_months: int
    retake_on_new_version: bool
    courses: tuple[str, ...]


class Attempt(NamedTuple):
    """One graded submission of a module's knowledge check.

    Immutable like the other domain types; a named tuple because a large export makes a
    few hundred thousand of these and of :class:`CompetenceRecord` (a frozen dataclass
    costs about six times as much to create).
    """

    learner: str
    module: str
    version: int
    score: float
    max_score: float
    passed: bool
    graded_at: datetime
    # the nbgrader assignment that graded it: a variant of the module version
    # (``kasam-v1-b``), or the module's id for an attempt from before question pools
    variant: str = ""


@dataclass(frozen=True)
class ModuleVersion:
    module: str
    title: str
    version: int
    released_on: date  # when this version became the current one


class CompetenceRecord(NamedTuple):
    """Where one employee stands on one required module on one day (immutable)."""

    employee: Employee
    module: str
    module_title: str
    courses: tuple[str, ...]
    status: Status
    due: date
    current_version: int
    attempts: int = 0
    latest_score: float | None = None  # percent of the latest graded attempt
    passed_on: date | None = None
    valid_until: date | None = None
    passed_version: int | None = None
