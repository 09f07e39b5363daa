"""The reminders inside the records service: its loop calls ``tick`` every pass; once a
day, from the configured hour, a run goes out (in a thread: SMTP and the records are
blocking work). The HR page asks ``status`` for the last and next sending and a preview."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.handlers import Records
from omsorgslyft.records.model import CompetenceRecord, Employee
from omsorgslyft.reminders.config import ReminderConfig
from omsorgslyft.reminders.log import Entry, ReminderLog, Run
from omsorgslyft.reminders.plan import Planned
from omsorgslyft.reminders.run import Report, pending, send
from omsorgslyft.reminders.schedule import due_now, next_run, runs_on

log = logging.getLogger("omsorgslyft.reminders")


def local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class Status:
    enabled: bool
    configured: bool
    last: Run | None
    next: datetime | None  # None: switched off
    preview_day: date
    preview: list[Planned]
    entries: list[Entry]


class ReminderService:
    def __init__(
        self,
        config: ReminderConfig,
        records: Records,
        clock: Callable[[], datetime] = local_now,
    ) -> None:
        self.config = config
        self.records = records
        self.clock = clock
        self.log = ReminderLog(records.store)
        self._done: date | None = None  # the day this process has seen a good run on
        self._running = False

    def _inputs(self, day: date) -> tuple[list[CompetenceRecord], list[Employee]]:
        r = self.records
        if day == r.today():
            records = r.all()
        else:
            records = compute_records(r.store, r.config.courses, r.config.pass_marks, day)
        return records, r.store.employees(include_inactive=False)

    def pending(self, day: date) -> list[Planned]:
        records, employees = self._inputs(day)
        return pending(records, employees, self.log, day, self.config)

    def run(self, day: date, by: str = "tjänsten") -> Report:
        """Send what is due on ``day`` now (the loop's run, or a test's)."""
        report = send(self.pending(day), self.log, self.config, day, by)
        log.info(
            "reminders %s: %d sent, %d failed, %d already taken",
            day.isoformat(),
            report.sent,
            report.failed,
            report.taken,
        )
        return report

    async def tick(self) -> Report | None:
        """Called on every pass of the service's loop; never raises."""
        if not self.config.enabled or self._running:
            return None
        try:
            now = self.clock()
            if self._done == now.date() or now.hour < self.config.hour:
                return None
            today = runs_on(self.log.runs(20), now.date())
            if not due_now(now, self.config.hour, today):
                if any(r.ok for r in today):
                    self._done = now.date()
                return None
            self._running = True
            try:
                report = await asyncio.to_thread(self.run, now.date())
            finally:
                self._running = False
            if not report.error and not report.failed:
                self._done = now.date()
            return report
        except Exception:
            log.exception("reminders failed (will try again)")
            return None

    def status(self, entries: int = 200) -> Status:
        now = self.clock()
        runs = self.log.runs(20)
        upcoming = next_run(now, self.config.hour, runs_on(runs, now.date()))
        day = upcoming.date()
        return Status(
            enabled=self.config.enabled,
            configured=self.config.smtp.configured,
            last=next((r for r in runs if r.finished_at is not None), None),
            next=upcoming if self.config.enabled else None,
            preview_day=day,
            preview=self.pending(day),
            entries=self.log.entries(entries),
        )
