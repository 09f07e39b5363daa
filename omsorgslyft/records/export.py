"""Exports of competence records: a pandas table, CSV (two dialects), XLSX and JSON.

Every text cell that a spreadsheet could read as a formula is neutralised with a leading
apostrophe. Private reflections are not part of any record, so they cannot leak here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import pandas as pd

from omsorgslyft.records.bulk import paused_gc
from omsorgslyft.records.model import CompetenceRecord

# the columns, in order (``_row`` below reads a record in the same order)
HEADERS = (
    "Anställningsnummer",
    "Förnamn",
    "Efternamn",
    "E-post",
    "Enhet",
    "Befattning",
    "Modul",
    "Modul-id",
    "Status",
    "Senaste resultat (%)",
    "Antal försök",
    "Godkänd",
    "Giltig till",
    "Klar senast",
    "Godkänd version",
    "Aktuell version",
    "Kurser",
)

DATE_COLUMNS = ("Godkänd", "Giltig till", "Klar senast")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

Progress = Callable[[int, int], None]


def neutralise(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _row(r: CompetenceRecord) -> list[Any]:
    e = r.employee
    return [
        e.number,
        e.first_name,
        e.last_name,
        e.email,
        e.unit,
        e.role,
        r.module_title,
        r.module,
        r.status.value,
        r.latest_score,
        r.attempts,
        r.passed_on,
        r.valid_until,
        r.due,
        r.passed_version,
        r.current_version,
        ", ".join(r.courses),
    ]


# the columns that hold text someone typed (names, units, titles) and so need neutralising
_TEXT = (0, 1, 2, 3, 4, 5, 6, 7, 16)


def record_rows(records: Sequence[CompetenceRecord]) -> list[list[Any]]:
    """One row per record, in ``HEADERS`` order (one function call per record: an export
    of 200,000 records should not make 3.4 million)."""
    rows = [_row(r) for r in records]
    for row in rows:
        for i in _TEXT:
            value = row[i]
            if value and value[0] in "=+-@\t\r\n":
                row[i] = "'" + value
    return rows


def records_frame(records: Sequence[CompetenceRecord]) -> pd.DataFrame:
    rows = record_rows(records)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(HEADERS)}
    frame = pd.DataFrame(columns, columns=list(HEADERS))
    frame["Godkänd version"] = frame["Godkänd version"].astype("Int64")
    frame["Senaste resultat (%)"] = frame["Senaste resultat (%)"].astype("Float64")
    return frame


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def to_csv(records: Sequence[CompetenceRecord], dialect: str = "excel-sv") -> bytes:
    """``excel-sv``: semicolons, decimal comma and a BOM (Swedish Excel opens it as is);
    ``utf8``: commas, decimal point, no BOM (for other systems).

    Written with the standard csv module: for a flat table of text it is three times
    faster than going through a DataFrame, and pandas reads the result back unchanged.
    """
    if dialect == "excel-sv":
        sep, decimal, newline, encoding = ";", ",", "\r\n", "utf-8-sig"
    elif dialect == "utf8":
        sep, decimal, newline, encoding = ",", ".", "\n", "utf-8"
    else:
        raise ValueError(dialect)
    with paused_gc():
        return _csv(records, sep, decimal, newline, encoding)


def _csv(
    records: Sequence[CompetenceRecord], sep: str, decimal: str, newline: str, encoding: str
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=newline)
    writer.writerow(HEADERS)
    score = HEADERS.index("Senaste resultat (%)")
    dates = [HEADERS.index(name) for name in DATE_COLUMNS]
    rows = record_rows(records)
    for row in rows:
        value = row[score]
        if value is not None:
            row[score] = repr(value).replace(".", decimal)
        for i in dates:
            if row[i] is not None:
                row[i] = row[i].isoformat()
    writer.writerows(rows)  # None is written as an empty field
    return buffer.getvalue().encode(encoding)


def to_xlsx(
    records: Sequence[CompetenceRecord],
    progress: Progress | None = None,
    title: str = "Kompetensregister",
) -> bytes:
    """An Excel workbook: real dates, a frozen header row and filters on every column."""
    with paused_gc():
        return _xlsx(records, progress, title)


def _xlsx(records: Sequence[CompetenceRecord], progress: Progress | None, title: str) -> bytes:
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
    total = len(records)
    step = max(total // 100, 1000)
    # dates are written as real dates; openpyxl gives them the yyyy-mm-dd format itself
    for done, row in enumerate(record_rows(records), start=1):
        sheet.append(row)
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
