"""Calendar arithmetic shared by grading, learning and records (no clock, no I/O)."""

from __future__ import annotations

from datetime import date

MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)


def long_date(day: date) -> str:
    """``2026-02-10`` -> ``10 februari 2026`` (as a Swedish reader writes a date)."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (31 January + 1 month = 28/29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - every month has a 28th
