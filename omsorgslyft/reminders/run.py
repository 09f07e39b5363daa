"""One sending: plan the day, leave out what the log has, claim, send, mark or release.

``pending`` is what a run would send (the dry run and the HR page's preview show it);
``send`` claims each message's reminders before handing it to the relay, marks them sent
when the relay has accepted it, and releases them when it has not. A relay that cannot be
reached (or refuses the login) stops the run: nothing more is claimed, and the next run
tries again.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import make_msgid

from omsorgslyft.records.model import CompetenceRecord, Employee
from omsorgslyft.reminders.config import ReminderConfig
from omsorgslyft.reminders.log import KEEP_DAYS, ReminderLog
from omsorgslyft.reminders.messages import build, sender_address, subject, summary
from omsorgslyft.reminders.plan import WEEK, Planned, plan_day
from omsorgslyft.reminders.smtp import SmtpMailer

log = logging.getLogger("omsorgslyft.reminders")

#: the relay refused this one message: the others may still go
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


@dataclass(frozen=True)
class Outcome:
    """One message of a run: to whom, about what, and whether it went (never its text)."""

    number: str
    address: str
    subject: str
    what: str
    sent: bool
    error: str = ""


@dataclass
class Report:
    day: date
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""  # why the run stopped early (the relay), if it did
    taken: int = 0  # messages another run had claimed first

    @property
    def sent(self) -> int:
        return sum(1 for o in self.outcomes if o.sent)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.sent) if not self.dry_run else 0


def pending(
    records: Sequence[CompetenceRecord],
    employees: Iterable[Employee],
    reminder_log: ReminderLog,
    today: date,
    config: ReminderConfig,
) -> list[Planned]:
    """What a run today would send: the day's plan less what the log has already."""
    last = reminder_log.last_weekly(today - timedelta(days=WEEK))
    planned = plan_day(records, employees, today, config.rules, last)
    taken = reminder_log.taken(k for p in planned for k in p.keys)
    out: list[Planned] = []
    for p in planned:
        left = [k for k in p.keys if k not in taken]
        if left:
            out.append(p.only(left))
    return out


def _error(exc: BaseException) -> str:
    """An error's kind and SMTP code, without the addresses some of them carry."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


def dry_run(planned: Sequence[Planned], today: date) -> Report:
    return Report(
        today,
        True,
        [
            Outcome(p.recipient.number, p.recipient.email, subject(p), summary(p), False)
            for p in planned
        ],
    )


def send(
    planned: Sequence[Planned],
    reminder_log: ReminderLog,
    config: ReminderConfig,
    today: date,
    by: str,
) -> Report:
    """Send ``planned`` through the relay, each reminder at most once (see the module)."""
    config.smtp.check()
    domain = sender_address(config.smtp.sender)[1].rsplit("@", 1)[1]
    report = Report(today, False)
    run = reminder_log.start_run(today, by)
    try:
        with SmtpMailer(config.smtp) as mailer:
            for p in planned:
                message_id = make_msgid("paminnelse", domain=domain)
                got = reminder_log.claim(p.keys, p.recipient.email, message_id, today)
                if not got:
                    report.taken += 1
                    continue
                p = p.only(got)
                message = build(p, today, config.public_url, config.smtp.sender)
                message.replace_header("Message-ID", message_id)
                outcome = Outcome(
                    p.recipient.number, p.recipient.email, subject(p), summary(p), True
                )
                try:
                    mailer.send(message)
                except MESSAGE_ERRORS as exc:
                    reminder_log.release(message_id)
                    report.outcomes.append(_failed(outcome, exc))
                    continue
                except (smtplib.SMTPException, OSError) as exc:
                    reminder_log.release(message_id)
                    report.outcomes.append(_failed(outcome, exc))
                    report.error = _error(exc)
                    break
                except BaseException:
                    reminder_log.release(message_id)
                    raise
                reminder_log.mark_sent(message_id)
                report.outcomes.append(outcome)
                log.info("reminder sent to %s: %s", p.recipient.number, outcome.what)
    finally:
        reminder_log.finish_run(run, len(report.outcomes), report.sent, report.failed, report.error)
    if report.error:
        log.warning(
            "reminders: the relay %s:%s failed (%s); %d sent, the rest next run",
            config.smtp.host,
            config.smtp.port,
            report.error,
            report.sent,
        )
    reminder_log.prune(today - timedelta(days=KEEP_DAYS))
    return report


def _failed(outcome: Outcome, exc: BaseException) -> Outcome:
    log.warning("reminder to %s not sent (%s): %s", outcome.number, _error(exc), outcome.what)
    return Outcome(
        outcome.number, outcome.address, outcome.subject, outcome.what, False, _error(exc)
    )
