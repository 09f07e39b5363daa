"""Attempt rules shared by grading (which enforces them) and learn (which tells the learner
before they try): at most N graded attempts of a module in any 24 hours."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from omsorgslyft.dates import MONTHS

WINDOW = timedelta(hours=24)
LOCAL = ZoneInfo("Europe/Stockholm")
WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_attempt(times: Iterable[datetime], limit: int, now: datetime) -> datetime | None:
    """When the next attempt opens, given the times of earlier attempts; None if it is open."""
    recent = sorted(_aware(t) for t in times if _aware(t) > now - WINDOW)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + WINDOW


def when_text(moment: datetime, now: datetime) -> str:
    """``i dag kl. 14.32``, ``i morgon kl. 09.05`` or ``onsdag 3 december kl. 09.05``
    (Swedish time; rounded up to the minute, so the attempt is open at that time)."""
    local = _aware(moment).astimezone(LOCAL)
    if local.second or local.microsecond:
        local = (local + timedelta(minutes=1)).replace(second=0, microsecond=0)
    today = _aware(now).astimezone(LOCAL).date()
    clock = f"kl. {local:%H.%M}"
    if local.date() == today:
        return f"i dag {clock}"
    if local.date() == today + timedelta(days=1):
        return f"i morgon {clock}"
    return f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {clock}"


def limit_message(limit: int, opens: datetime, now: datetime) -> str:
    tries = "ett försök" if limit == 1 else f"{limit} försök"
    return (
        f"Du har gjort {tries} det senaste dygnet. "
        f"Nästa försök öppnar {when_text(opens, now)}. Läs gärna avsnitten igen under tiden."
    )
