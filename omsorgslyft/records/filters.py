"""Filtering and summarising records for the HR page, the exports and the API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from omsorgslyft.records.model import VALID, CompetenceRecord, Status

COVERAGE_TARGET = 0.80  # e.g. hbtqi certification asks for at least 80 % trained staff


@dataclass(frozen=True)
class Filters:
    unit: str = ""
    role: str = ""
    module: str = ""
    status: str = ""

    @classmethod
    def from_query(cls, get: Mapping[str, str]) -> Filters:
        return cls(
            unit=get.get("enhet", "")[:200],
            role=get.get("befattning", "")[:200],
            module=get.get("modul", "")[:100],
            status=get.get("status", "")[:40],
        )

    @staticmethod
    def query_keys() -> tuple[str, ...]:
        return ("enhet", "befattning", "modul", "status")

    def apply(self, records: Sequence[CompetenceRecord]) -> list[CompetenceRecord]:
        return [
            r
            for r in records
            if (not self.unit or r.employee.unit == self.unit)
            and (not self.role or r.employee.role == self.role)
            and (not self.module or r.module == self.module)
            and (not self.status or r.status.value == self.status)
        ]

    def query(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("enhet", self.unit),
                ("befattning", self.role),
                ("modul", self.module),
                ("status", self.status),
            )
            if v
        }


@dataclass(frozen=True)
class Coverage:
    unit: str
    module: str
    module_title: str
    valid: int
    required: int

    @property
    def share(self) -> float:
        return self.valid / self.required if self.required else 0.0

    @property
    def meets_target(self) -> bool:
        return self.share >= COVERAGE_TARGET


def coverage(records: Sequence[CompetenceRecord]) -> list[Coverage]:
    """Share of staff with valid training, per unit and module."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    titles: dict[str, str] = {}
    for r in records:
        c = counts[(r.employee.unit, r.module)]
        c[1] += 1
        if r.status in VALID:
            c[0] += 1
        titles[r.module] = r.module_title
    return [
        Coverage(unit, module, titles[module], valid, required)
        for (unit, module), (valid, required) in sorted(counts.items())
    ]


def status_counts(records: Sequence[CompetenceRecord]) -> dict[Status, int]:
    out = dict.fromkeys(Status, 0)
    for r in records:
        out[r.status] += 1
    return out
