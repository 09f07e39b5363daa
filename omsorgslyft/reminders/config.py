"""The reminder settings, and the command-line options the records service and
``omsorgslyft reminders`` share (``HubSettings`` passes them to the service)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field

from omsorgslyft.reminders.plan import Rules
from omsorgslyft.reminders.smtp import SmtpSettings, password_from


@dataclass(frozen=True)
class ReminderConfig:
    rules: Rules = field(default_factory=Rules)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    public_url: str = "http://127.0.0.1:8000"
    hour: int = 7  # local time: the service sends once a day from this hour on
    enabled: bool = False  # the service sends only when switched on

    def check(self) -> ReminderConfig:
        self.rules.check()
        if not 0 <= self.hour <= 23:
            raise ValueError(f"reminder_hour must be 0 to 23 (is {self.hour})")
        if self.enabled:
            self.smtp.check()
        return self


def add_arguments(parser: argparse.ArgumentParser, service: bool = True) -> None:
    """The reminder options. ``service``: also ``--reminders`` (on/off) and the hour;
    otherwise ``--public-url`` (the service has its own)."""
    group = parser.add_argument_group("påminnelser (reminders)")
    if service:
        group.add_argument(
            "--reminders",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="send reminders by e-mail once a day (default: off)",
        )
        group.add_argument(
            "--reminder-hour", type=int, default=7, help="local hour from which to send (7)"
        )
    else:
        group.add_argument(
            "--public-url",
            default="http://127.0.0.1:8000",
            help="plattformens adress (länken i mejlen)",
        )
    group.add_argument("--smtp-host", default="", help="the SMTP relay")
    group.add_argument("--smtp-port", type=int, default=587)
    group.add_argument(
        "--smtp-starttls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="STARTTLS, with the relay's certificate verified (default: on)",
    )
    group.add_argument("--smtp-username", default="", help="log in to the relay as this user")
    group.add_argument(
        "--smtp-password-file",
        default="",
        help="a file with the relay's password (else OMSORGSLYFT_SMTP_PASSWORD in the "
        "environment; never the password itself on a command line)",
    )
    group.add_argument("--smtp-sender", default="", help='From: "Omsorgslyft <noreply@…>"')
    group.add_argument(
        "--reminder-due-days", type=int, default=14, help="days before a training is due (14)"
    )
    group.add_argument(
        "--reminder-expiry-days", type=int, default=30, help="days before a pass runs out (30)"
    )
    group.add_argument(
        "--reminder-digest-weekday",
        type=int,
        default=1,
        help="managers' weekly digest: ISO weekday, 1 Monday … 7 Sunday, 0 none (1)",
    )


def from_args(
    args: argparse.Namespace, environ: Mapping[str, str], public_url: str = ""
) -> ReminderConfig:
    smtp = SmtpSettings(
        host=args.smtp_host,
        port=args.smtp_port,
        starttls=args.smtp_starttls,
        username=args.smtp_username,
        password=password_from(environ, args.smtp_password_file) if args.smtp_username else "",
        sender=args.smtp_sender,
    )
    return ReminderConfig(
        rules=Rules(
            due_days=args.reminder_due_days,
            expiry_days=args.reminder_expiry_days,
            digest_weekday=args.reminder_digest_weekday,
        ),
        smtp=smtp,
        public_url=(public_url or getattr(args, "public_url", "") or "").rstrip("/")
        or "http://127.0.0.1:8000",
        hour=getattr(args, "reminder_hour", 7),
        enabled=getattr(args, "reminders", False),
    ).check()
