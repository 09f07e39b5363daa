"""When the records service sends: once a day, from the configured hour (local time).

A run that could not reach the relay, or whose messages were refused, is tried again
``RETRY`` later the same day (the log's claims keep every reminder to one sending).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from omsorgslyft.reminders.log import Run

RETRY = timedelta(minutes=30)


def runs_on(runs: Sequence[Run], day: date) -> list[Run]:
    return [r for r in runs if r.day == day]


def due_now(now: datetime, hour: int, runs_today: Sequence[Run]) -> bool:
    """``now``: aware, local. Whether a run should start now."""
    if now.hour < hour or any(r.ok for r in runs_today):
        return False
    latest = max((r.started_at for r in runs_today), default=None)
    return latest is None or now - latest >= RETRY


def next_run(now: datetime, hour: int, runs_today: Sequence[Run]) -> datetime:
    """When the next run will start (``now`` if one is due)."""
    if any(r.ok for r in runs_today):
        return _at(now.date() + timedelta(days=1), hour, now)
    if now.hour < hour:
        return _at(now.date(), hour, now)
    latest = max((r.started_at for r in runs_today), default=None)
    if latest is not None and now - latest < RETRY:
        return latest + RETRY
    return now


def _at(day: date, hour: int, like: datetime) -> datetime:
    """``day`` at ``hour`` o'clock in local time (aware, as ``like`` is)."""
    moment = datetime.combine(day, time(hour))
    return moment.astimezone() if like.tzinfo is not None else moment
