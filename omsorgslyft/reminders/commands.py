"""``omsorgslyft reminders``: what would go out (a dry run, the default), or send it now.

omsorgslyft reminders --dry-run             what today's run would send (nothing is sent)
omsorgslyft reminders --dry-run --text      … with each message's text
omsorgslyft reminders --dry-run --datum 2026-07-01
omsorgslyft reminders send --smtp-host smtp.kommun.se --smtp-sender noreply@kommun.se
omsorgslyft reminders log                   the latest reminders (who, what, when)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date

from omsorgslyft.records.config import RecordsConfig


def cmd_reminders(
    args: argparse.Namespace, records_config: Callable[[argparse.Namespace], RecordsConfig]
) -> int:
    from omsorgslyft.records.compute import compute_records
    from omsorgslyft.reminders.config import from_args
    from omsorgslyft.reminders.log import ReminderLog
    from omsorgslyft.reminders.messages import KIND_NAMES, preview_lines, text_body
    from omsorgslyft.reminders.run import pending, send

    try:
        reminders = from_args(args, os.environ)
    except (ValueError, OSError) as exc:
        print(f"Fel i inställningarna: {exc}", file=sys.stderr)
        return 2
    config = records_config(args)
    store = config.store()
    reminder_log = ReminderLog(store)
    if args.action == "log":
        for e in reminder_log.entries(args.antal):
            when = (e.sent_at or e.claimed_at).astimezone().strftime("%Y-%m-%d %H:%M")
            state = "skickat" if e.state == "sent" else "inte bekräftat"
            print(f"{when}  {e.number}  {KIND_NAMES[e.kind]}: {e.module or '–'}  ({state})")
        return 0
    dry = args.dry_run or args.action == "preview"
    if args.datum and not dry:
        print("--datum går bara att använda med --dry-run.", file=sys.stderr)
        return 2
    today = date.fromisoformat(args.datum) if args.datum else date.today()
    records = compute_records(store, config.courses, config.pass_marks, today)
    planned = pending(
        records, store.employees(include_inactive=False), reminder_log, today, reminders
    )
    if dry:
        for p, line in zip(planned, preview_lines(planned), strict=True):
            print(line)
            if args.text:
                print("    " + text_body(p, today, reminders.public_url).replace("\n", "\n    "))
        print(
            f"Provkörning {today.isoformat()}, inget skickades: {len(planned)} mejl skulle skickas."
        )
        return 0
    if not reminders.smtp.configured:
        print("Ange --smtp-host och --smtp-sender för att skicka.", file=sys.stderr)
        return 2
    try:
        reminders.smtp.check()
    except ValueError as exc:
        print(f"Fel i inställningarna: {exc}", file=sys.stderr)
        return 2
    report = send(planned, reminder_log, reminders, today, by="kommandoraden")
    for o in report.outcomes:
        print(f"  {'skickat' if o.sent else 'misslyckades'}: {o.number} <{o.address}> ({o.what})")
    print(f"{report.sent} mejl skickade, {report.failed} misslyckades.")
    if report.error:
        print(
            f"E-postservern svarade inte som väntat ({report.error}). Försök igen senare.",
            file=sys.stderr,
        )
        return 1
    return 1 if report.failed else 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    db: Callable[[argparse.ArgumentParser], None],
    records_config: Callable[[argparse.Namespace], RecordsConfig],
) -> None:
    from omsorgslyft.reminders.config import add_arguments

    p = sub.add_parser("reminders", help="påminnelser per e-post: provkör, skicka, logg")
    p.add_argument(
        "action",
        nargs="?",
        choices=("preview", "send", "log"),
        default="preview",
        help="preview (standard): visa vad som skulle skickas; send: skicka nu; log: loggen",
    )
    p.add_argument("--dry-run", action="store_true", help="skicka inget, visa bara")
    p.add_argument("--text", action="store_true", help="visa också varje mejls text")
    p.add_argument("--datum", help="provkör för en annan dag (ÅÅÅÅ-MM-DD)")
    p.add_argument("--antal", type=int, default=50, help="hur många rader loggen visar (50)")
    add_arguments(p, service=False)
    db(p)
    p.set_defaults(func=lambda args: cmd_reminders(args, records_config))
