"""Read a staff roster exported by an HR system: CSV (comma or semicolon) or XLSX.

Every problem is reported with the row number a person sees in Excel (the header is row 1),
in Swedish, and a file with any problem imports nothing. A row whose username is a reserved
account (an admin, a trainer, HR: ``omsorgslyft.records.reserved``) is such a problem.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from omsorgslyft.records.model import Employee
from omsorgslyft.records.reserved import ALWAYS_RESERVED, REFUSED, fold, folded

# column -> the spellings HR systems use for it (compared case-insensitively)
COLUMNS: dict[str, tuple[str, ...]] = {
    "anställningsnummer": ("anställningsnummer", "anst.nr", "anstnr", "anställningsnr"),
    "förnamn": ("förnamn",),
    "efternamn": ("efternamn",),
    "e-post": ("e-post", "epost", "e-postadress", "mejl"),
    "enhet": ("enhet", "arbetsplats"),
    "befattning": ("befattning", "yrke", "roll"),
    "anställd från": ("anställd från", "anställningsdatum", "startdatum"),
    "anställd till": ("anställd till", "slutdatum"),
    "användarnamn": ("användarnamn", "inloggning"),
    # the units a manager (enhetschef) is responsible for: names as in "enhet", several
    # separated by a comma or |
    "chef för enhet": ("chef för enhet", "chef för enheter", "chef för", "enhetschef för"),
}
REQUIRED = (
    "anställningsnummer",
    "förnamn",
    "efternamn",
    "e-post",
    "enhet",
    "befattning",
    "anställd från",
)
MAX_FIELD = 200
MAX_ROWS = 200_000
MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, order=True)
class RosterError:
    row: int  # 1 = the header row, 0 = the file as a whole
    message: str

    def __str__(self) -> str:
        return f"Rad {self.row}: {self.message}" if self.row else self.message


@dataclass(frozen=True)
class Roster:
    employees: tuple[Employee, ...]
    errors: tuple[RosterError, ...]
    rows: tuple[int, ...] = ()  # the row number of each employee, in the same order

    def reserved_errors(self, reserved: Iterable[str]) -> tuple[RosterError, ...]:
        """The rows whose username is reserved (checked again when an import is confirmed,
        since someone may have become an admin, a trainer or HR since the dry run)."""
        refused = folded(reserved)
        return tuple(
            RosterError(row, REFUSED.format(name=e.username) + ".")
            for row, e in zip(self.rows, self.employees, strict=True)
            if fold(e.username) in refused
        )


def _rows_from_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError(
            "Filen är inte sparad som UTF-8 (tecknet på position "
            f"{exc.start} går inte att läsa). Spara som ”CSV UTF-8” i Excel och försök igen."
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") and ";" in first else ","
    return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _rows_from_xlsx(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise RosterFileError("Excel-filen går inte att öppna. Är den en .xlsx-fil?") from None
    try:
        sheet = book.worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _units(text: str) -> tuple[str, ...]:
    """``"Hemtjänst Norr, Hemtjänst Syd"`` -> both names, in order, each once."""
    out: list[str] = []
    for part in text.replace("|", ",").split(","):
        name = " ".join(part.split())
        if name and name not in out:
            out.append(name)
    return tuple(out)


class RosterFileError(ValueError):
    """The file as a whole cannot be read."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def read_roster(data: bytes, filename: str, reserved: Iterable[str] = ALWAYS_RESERVED) -> Roster:
    """Parse and check a roster file; ``filename`` decides CSV or XLSX by its ending.

    A row whose username (the ``användarnamn`` column, or else the e-mail address) is in
    ``reserved`` is an error: admins, trainers and HR are not care staff, and the roster
    must not be able to end their accounts.
    """
    refused = folded(reserved)
    if len(data) > MAX_BYTES:
        return Roster((), (RosterError(0, "Filen är större än 50 MB."),))
    try:
        if Path(filename).suffix.lower() in (".xlsx", ".xlsm"):
            rows: list[list[Any]] = _rows_from_xlsx(data)
        elif Path(filename).suffix.lower() in (".csv", ".txt", ""):
            rows = list(_rows_from_csv(data))
        else:
            raise RosterFileError("Filen ska vara en CSV-fil (.csv) eller en Excel-fil (.xlsx).")
    except RosterFileError as exc:
        return Roster((), (RosterError(0, str(exc)),))
    while rows and not any(_text(v) for v in rows[-1]):
        rows.pop()
    if not rows:
        return Roster((), (RosterError(0, "Filen är tom."),))
    if len(rows) > MAX_ROWS + 1:
        return Roster((), (RosterError(0, f"Filen har fler än {MAX_ROWS} rader."),))
    header = [_text(v).casefold() for v in rows[0]]
    index: dict[str, int] = {}
    errors: list[RosterError] = []
    for column, names in COLUMNS.items():
        for position, name in enumerate(header):
            if name in names:
                if column in index:
                    errors.append(RosterError(1, f"Kolumnen ”{column}” finns två gånger."))
                index[column] = position
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        errors.append(
            RosterError(
                1,
                "Kolumn saknas: "
                + ", ".join(f"”{m}”" for m in missing)
                + ". Första raden ska ha kolumnerna "
                + ", ".join(c for c in COLUMNS if c in REQUIRED or c == "anställd till")
                + ".",
            )
        )
        return Roster((), tuple(errors))

    employees: list[Employee] = []
    employee_rows: list[int] = []
    managed: list[tuple[int, str]] = []  # (row, unit) checked against the file's units
    numbers: dict[str, int] = {}
    usernames: dict[str, int] = {}
    for number, raw in enumerate(rows[1:], start=2):
        if not any(_text(v) for v in raw):
            continue

        def cell(column: str, raw: list[Any] = raw) -> Any:
            position = index.get(column)
            return raw[position] if position is not None and position < len(raw) else None

        values = {c: _text(cell(c)) for c in COLUMNS}
        row_errors: list[str] = []
        for column in REQUIRED:
            if not values[column]:
                row_errors.append(f"”{column}” är tomt")
        for column, value in values.items():
            if len(value) > MAX_FIELD:
                row_errors.append(f"”{column}” är längre än {MAX_FIELD} tecken")
        email = values["e-post"].lower()
        if email and (email.count("@") != 1 or email.startswith("@") or email.endswith("@")):
            row_errors.append(f"e-post ”{values['e-post']}” är ingen e-postadress")
        dates: dict[str, date | None] = {}
        for column in ("anställd från", "anställd till"):
            if values[column]:
                try:
                    dates[column] = _date(cell(column))
                except ValueError:
                    row_errors.append(
                        f"”{column}” ”{values[column]}” är inget datum (skriv ÅÅÅÅ-MM-DD)"
                    )
            else:
                dates[column] = None
        start, end = dates.get("anställd från"), dates.get("anställd till")
        if start and end and end < start:
            row_errors.append("”anställd till” är före ”anställd från”")
        username = (values["användarnamn"] or email).lower()
        if username and fold(username) in refused:
            row_errors.append(REFUSED.format(name=username))
        for seen, key, label in (
            (numbers, values["anställningsnummer"], "anställningsnumret"),
            (usernames, username, "användarnamnet"),
        ):
            if key and key in seen:
                row_errors.append(f"{label} ”{key}” finns redan på rad {seen[key]}")
            elif key:
                seen[key] = number
        manages = _units(values["chef för enhet"])
        if row_errors:
            errors.append(RosterError(number, "; ".join(row_errors) + "."))
            continue
        assert start is not None
        managed.extend((number, unit) for unit in manages)
        employee_rows.append(number)
        employees.append(
            Employee(
                number=values["anställningsnummer"],
                username=username,
                first_name=values["förnamn"],
                last_name=values["efternamn"],
                email=email,
                unit=values["enhet"],
                role=values["befattning"],
                start=start,
                end=end,
                manages=manages,
            )
        )
    units = {fold(e.unit): e.unit for e in employees}
    for number, unit in managed:
        if fold(unit) not in units:
            errors.append(
                RosterError(
                    number,
                    f"”chef för enhet” ”{unit}” är ingen enhet i filen (stava som i kolumnen "
                    "”enhet”; skilj flera enheter med komma).",
                )
            )
    if errors and employees:
        errors.sort()
    # a manager's units as the "enhet" column spells them
    employees = [
        replace(e, manages=tuple(units.get(fold(u), u) for u in e.manages)) if e.manages else e
        for e in employees
    ]
    if not employees and not errors:
        errors.append(RosterError(0, "Filen har inga anställda, bara rubrikraden."))
    return Roster(tuple(employees), tuple(errors), tuple(employee_rows))
