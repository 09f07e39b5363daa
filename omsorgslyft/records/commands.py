"""``omsorgslyft roster``, ``export``, ``statistik`` and ``gdpr``: HR work from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import TextIO

from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.reserved import ALWAYS_RESERVED, parse_names


def _config(args: argparse.Namespace) -> RecordsConfig:
    root = Path(args.root).resolve() if args.root else Path.cwd().resolve()
    return RecordsConfig.for_project(
        root,
        records_url=args.db_url or "",
        submissions_url=getattr(args, "submissions_url", "") or "",
        gradebook_url=getattr(args, "gradebook_url", "") or "",
        answers_url=getattr(args, "answers_url", "") or "",
        retention_months=getattr(args, "gallringstid", 24),
    ).load()


def _today(args: argparse.Namespace) -> date:
    return date.fromisoformat(args.datum) if getattr(args, "datum", None) else date.today()


class ProgressBar:
    """A one-line progress bar on stderr (only drawn for a terminal or when forced)."""

    def __init__(self, label: str, stream: TextIO | None = None, force: bool = False) -> None:
        self.label = label
        self.stream = stream or sys.stderr  # the current one, not the one at import time
        self.enabled = force or self.stream.isatty()
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        bar = "█" * filled + "░" * (width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(
            f"\r{self.label} {bar} {100 * done // total:3d} % "
            f"({done:,} av {total:,} rader, {time.monotonic() - self.started:.1f} s){end}".replace(
                ",", " "
            )
        )
        self.stream.flush()


def cmd_roster_import(args: argparse.Namespace) -> int:
    from omsorgslyft.records.roster import read_roster

    config = _config(args)
    path = Path(args.file)
    if not path.is_file():
        print(f"Filen {path} finns inte.", file=sys.stderr)
        return 2
    # offline: the hub is not asked, so only these names (trainers and HR too, if given)
    roster = read_roster(path.read_bytes(), path.name, parse_names(args.reserverade))
    for error in roster.errors:
        print(f"{path}: {error}")
    if roster.errors:
        print(f"Inget importerades: {len(roster.errors)} fel.", file=sys.stderr)
        return 1
    store = config.store()
    plan = store.plan_import(roster.employees, config.retention_limit(date.today()))
    for conflict in plan.conflicts:
        print(f"{path}: {conflict}")
    if plan.conflicts:
        print(f"Inget importerades: {len(plan.conflicts)} fel.", file=sys.stderr)
        return 1
    for e in plan.added:
        print(f"  ny:          {e.number} {e.name} ({e.unit}, {e.role})")
    for before, after in plan.changed:
        what = ", ".join(
            f"{f}: {getattr(before, f)} → {getattr(after, f)}"
            for f in ("unit", "role", "email", "end", "start", "first_name", "last_name")
            if getattr(before, f) != getattr(after, f)
        )
        print(f"  ändrad:      {after.number} {after.name} ({what})")
    for e in plan.deactivated:
        print(f"  avslutad:    {e.number} {e.name} (inloggningen stängs, registret sparas)")
    for e in plan.reactivated:
        print(f"  återaktiv:   {e.number} {e.name}")
    if args.dry_run:
        print(f"Provkörning, inget sparades: {plan.summary()}.")
        return 0
    store.apply_import(plan, path.name, by="kommandoraden")
    print(f"Importerat från {path.name}: {plan.summary()}.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from omsorgslyft.records.compute import compute_records
    from omsorgslyft.records.export import to_csv, to_json, to_xlsx
    from omsorgslyft.records.filters import Filters

    config = _config(args)
    store = config.store()
    started = time.monotonic()
    records = compute_records(store, config.courses, config.pass_marks, _today(args))
    records = Filters(unit=args.enhet or "", module=args.modul or "").apply(records)
    print(
        f"{len(records):,} poster beräknade på {time.monotonic() - started:.1f} s.".replace(
            ",", " "
        ),
        file=sys.stderr,
    )
    fmt = args.format
    if fmt == "xlsx":
        data = to_xlsx(records, progress=ProgressBar("Skriver Excel", force=args.progress))
    elif fmt == "json":
        data = json.dumps(to_json(records), ensure_ascii=False, indent=1).encode()
    else:
        data = to_csv(records, "excel-sv" if fmt == "csv" else "utf8")
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        ending = {"xlsx": "xlsx", "json": "json"}.get(fmt, "csv")
        out = Path(args.output or f"kompetensregister-{_today(args).isoformat()}.{ending}")
        out.write_bytes(data)
        print(f"Sparat: {out} ({len(data) / 1024:.0f} kB).", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from omsorgslyft.records.stats import NOT_ASKED, question_statistics

    config = _config(args)
    stats = question_statistics(config, config.store())
    for module in stats:
        print(f"{module.title} (version {module.version}): {module.attempts} inlämningar")
        if module.per_attempt < module.pool:
            print(
                f"  {module.pool} frågor i frågebanken, {module.per_attempt} per försök "
                f"({module.variants} varianter)"
            )
        for q in module.questions:
            wrong = f" · vanligaste fel: {q.common_wrong}" if q.common_wrong else ""
            if q.share_correct is None:
                print(f"     –  {q.id}: {q.prompt} · {NOT_ASKED}")
            else:
                print(f"  {q.share_correct:5.0%}  {q.id}: {q.prompt} · ställd {q.asked}{wrong}")
    return 0


def cmd_gdpr(args: argparse.Namespace) -> int:
    from omsorgslyft.records import gdpr

    config = _config(args)
    store = config.store()
    if args.action == "utdrag":
        extract = gdpr.register_extract(config, store, args.person)
        if extract is None:
            print(
                f"Ingen med anställningsnummer eller användarnamn {args.person}.", file=sys.stderr
            )
            return 1
        print(json.dumps(extract, ensure_ascii=False, indent=2, default=str))
        return 0
    if args.action in ("pseudonymisera", "radera"):
        result = gdpr.erase(config, store, args.person, mode=args.action, by="kommandoraden")
        if result is None:
            print(
                f"Ingen med anställningsnummer eller användarnamn {args.person}.", file=sys.stderr
            )
            return 1
        print(result)
        return 0
    # gallra: the retention rule
    done = gdpr.apply_retention(config, store, _today(args), by="kommandoraden")
    print(f"Gallring: {len(done)} tidigare anställda pseudonymiserade.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from omsorgslyft.demo import seed

    config = _config(args)
    names = [e.username for e in config.store().employees(include_inactive=False)]
    print("Rättar demoinlämningar med nbgrader (första gången tar det en stund) …", flush=True)
    done = seed(config.modules_dir.parent, names, progress=lambda m: print(m, flush=True))
    print(f"{done} demoinlämningar rättade.")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db-url", help="registrets databas (standard: var/records/records.db)")
        p.add_argument("--submissions-url", help="inlämningsloggen (standard: grading/)")
        p.add_argument("--gradebook-url", help="nbgraders gradebook (standard: grading/)")
        p.add_argument("--answers-url", help="svarsdatabasen (standard: var/learn/learn.db)")
        p.add_argument(
            "--gallringstid",
            type=int,
            default=24,
            help="månader efter avslutad anställning innan uppgifterna pseudonymiseras "
            "(0 = aldrig; standard 24, som plattformen)",
        )

    roster = sub.add_parser("roster", help="personallistan från HR-systemet")
    rsub = roster.add_subparsers(dest="roster_command", required=True)
    imp = rsub.add_parser("import", help="importera en personallista (CSV eller XLSX)")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="visa vad som skulle ändras")
    imp.add_argument(
        "--reserverade",
        default=",".join(ALWAYS_RESERVED),
        metavar="NAMN,NAMN",
        help="användarnamn som aldrig får finnas i personallistan: administratörer, "
        f"utbildare och HR, åtskilda med komma (standard: {','.join(ALWAYS_RESERVED)})",
    )
    db(imp)
    imp.set_defaults(func=cmd_roster_import)

    export = sub.add_parser("export", help="exportera kompetensregistret")
    export.add_argument("--format", choices=("xlsx", "csv", "csv-utf8", "json"), default="xlsx")
    export.add_argument("-o", "--output", help="fil att skriva (- för standard ut)")
    export.add_argument("--enhet", help="bara en enhet")
    export.add_argument("--modul", help="bara en modul")
    export.add_argument("--datum", help="beräkna status för den här dagen (ÅÅÅÅ-MM-DD)")
    export.add_argument("--progress", action="store_true", help="visa förlopp även utan terminal")
    db(export)
    export.set_defaults(func=cmd_export)

    stats = sub.add_parser("statistik", help="frågestatistik per modul (för utbildare)")
    db(stats)
    stats.set_defaults(func=cmd_stats)

    gdpr = sub.add_parser("gdpr", help="registerutdrag, radering och gallring")
    gdpr.add_argument("action", choices=("utdrag", "pseudonymisera", "radera", "gallra"))
    gdpr.add_argument("person", nargs="?", default="", help="anställningsnummer eller användarnamn")
    gdpr.add_argument("--datum", help="dagens datum för gallring (ÅÅÅÅ-MM-DD)")
    db(gdpr)
    gdpr.set_defaults(func=cmd_gdpr)

    demo = sub.add_parser("demo", help="rätta demoinlämningar för en del av personallistan")
    db(demo)
    demo.set_defaults(func=cmd_demo)

    from omsorgslyft.reminders.commands import add_parser as add_reminders

    add_reminders(sub, db, _config)
