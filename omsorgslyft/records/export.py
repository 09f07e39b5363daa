"""Exports of competence records: a pandas table, CSV (two dialects), XLSX and JSON.

Every text cell that a spreadsheet could read as a formula is neutralised with a leading
apostrophe. Private reflections are not part of any record, so they cannot leak here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import pandas as pd

from omsorgslyft.records.model import CompetenceRecord

# column header -> how to read it from a record
COLUMNS: tuple[tuple[str, Callable[[CompetenceRecord], Any]], ...] = (
    ("Anställningsnummer", lambda r: r.employee.number),
    ("Förnamn", lambda r: r.employee.first_name),
    ("Efternamn", lambda r: r.employee.last_name),
    ("E-post", lambda r: r.employee.email),
    ("Enhet", lambda r: r.employee.unit),
    ("Befattning", lambda r: r.employee.role),
    ("Modul", lambda r: r.module_title),
    ("Modul-id", lambda r: r.module),
    ("Status", lambda r: r.status.value),
    ("Senaste resultat (%)", lambda r: r.latest_score),
    ("Antal försök", lambda r: r.attempts),
    ("Godkänd", lambda r: r.passed_on),
    ("Giltig till", lambda r: r.valid_until),
    ("Klar senast", lambda r: r.due),
    ("Godkänd version", lambda r: r.passed_version),
    ("Aktuell version", lambda r: r.current_version),
    ("Kurser", lambda r: ", ".join(r.courses)),
)
HEADERS = tuple(name for name, _ in COLUMNS)
DATE_COLUMNS = ("Godkänd", "Giltig till", "Klar senast")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

Progress = Callable[[int, int], None]


def neutralise(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def record_rows(records: Sequence[CompetenceRecord]) -> list[list[Any]]:
    getters = [get for _, get in COLUMNS]
    return [[neutralise(get(r)) for get in getters] for r in records]


def records_frame(records: Sequence[CompetenceRecord]) -> pd.DataFrame:
    frame = pd.DataFrame(record_rows(records), columns=list(HEADERS))
    for name in ("Godkänd version", "Senaste resultat (%)"):
        frame[name] = frame[name].astype("Float64" if "%" in name else "Int64")
    return frame


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def to_csv(records: Sequence[CompetenceRecord], dialect: str = "excel-sv") -> bytes:
    """``excel-sv``: semicolons, decimal comma and a BOM (Swedish Excel opens it as is);
    ``utf8``: commas, decimal point, no BOM (for other systems)."""
    frame = records_frame(records)
    for name in DATE_COLUMNS:
        frame[name] = frame[name].map(_iso)
    if dialect == "excel-sv":
        text: str = frame.to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n")
        return text.encode("utf-8-sig")
    if dialect == "utf8":
        plain: str = frame.to_csv(index=False, sep=",", lineterminator="\n")
        return plain.encode("utf-8")
    raise ValueError(dialect)


def to_xlsx(
    records: Sequence[CompetenceRecord],
    progress: Progress | None = None,
    title: str = "Kompetensregister",
) -> bytes:
    """An Excel workbook: real dates, a frozen header row and filters on every column."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    widths = [max(len(h) + 2, 12) for h in HEADERS]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for h in HEADERS:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    date_at = {HEADERS.index(n) for n in DATE_COLUMNS}
    total = len(records)
    step = max(total // 100, 1000)
    for done, row in enumerate(record_rows(records), start=1):
        out: list[Any] = []
        for i, value in enumerate(row):
            if i in date_at and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
        if progress and done % step == 0:
            progress(done, total)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{total + 1}"
    buffer = io.BytesIO()
    book.save(buffer)
    if progress:
        progress(total, total)
    return buffer.getvalue()


def to_json(records: Sequence[CompetenceRecord]) -> list[dict[str, Any]]:
    """The JSON API's shape: English keys for systems, values as in the exports."""
    return [
        {
            "employee_number": r.employee.number,
            "username": r.employee.username,
            "name": r.employee.name,
            "unit": r.employee.unit,
            "role": r.employee.role,
            "module": r.module,
            "module_title": r.module_title,
            "status": r.status.value,
            "latest_score": r.latest_score,
            "attempts": r.attempts,
            "passed_on": _iso(r.passed_on),
            "valid_until": _iso(r.valid_until),
            "due": _iso(r.due),
            "passed_version": r.passed_version,
            "current_version": r.current_version,
            "courses": list(r.courses),
        }
        for r in records
    ]
