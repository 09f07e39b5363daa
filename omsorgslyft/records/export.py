"""Exports of competence records: a pandas table, CSV (two dialects), XLSX and JSON.

Every text cell that a spreadsheet could read as a formula is neutralised with a leading
apostrophe. Private reflections are not part of any record, so they cannot leak here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import Any

import pandas as pd
from xlsxwriter.worksheet import Worksheet

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


def to_csv(
    records: Sequence[CompetenceRecord],
    dialect: str = "excel-sv",
    progress: Progress | None = None,
) -> bytes:
    """``excel-sv``: semicolons, decimal comma and a BOM (Swedish Excel opens it as is);
    ``utf8``: commas, decimal point, no BOM (for other systems). ``progress(done, total)``
    as for :func:`to_xlsx`.

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
        return _csv(records, sep, decimal, newline, encoding, progress)


class _CsvFields(dict[Any, str]):
    """A text (or a course list) as a CSV field: neutralised, and quoted as the csv
    module quotes it (asked once for every distinct value)."""

    def __init__(self, sep: str) -> None:
        super().__init__()
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, delimiter=sep, lineterminator="\n")

    def __missing__(self, value: Any) -> str:
        text = ", ".join(value) if isinstance(value, tuple) else value
        if text and text[0] in "=+-@\t\r\n":
            text = "'" + text
        if not text:
            field = ""
        else:
            self.buffer.seek(0)
            self.buffer.truncate()
            self.writer.writerow((text, ""))  # two fields: one alone is quoted when empty
            field = self.buffer.getvalue()[: -len(self.writer.dialect.delimiter) - 1]
        self[value] = field
        return field


class _Formatted(dict[Any, str]):
    """A value as a CSV field, formatted once for every distinct value (None: empty)."""

    def __init__(self, format: Callable[[Any], str]) -> None:
        super().__init__({None: ""})
        self.format = format

    def __missing__(self, value: Any) -> str:
        text = self[value] = self.format(value)
        return text


def _csv(
    records: Sequence[CompetenceRecord],
    sep: str,
    decimal: str,
    newline: str,
    encoding: str,
    progress: Progress | None,
) -> bytes:
    """One line per record, as ``csv.writer`` writes ``record_rows`` (the tests compare
    them): every text from ``_CsvFields``, every date and score from a cache."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=newline)
    writer.writerow(HEADERS)
    t = _CsvFields(sep)
    d = _Formatted(date.isoformat)
    score = _Formatted(lambda value: repr(value).replace(".", decimal))
    n = _Formatted(str)
    total = len(records)
    step = max(total // 100, 1000)
    lines: list[str] = []
    person: Any = None
    prefix = ""
    for done, rec in enumerate(records, start=1):
        e = rec.employee
        if e is not person:  # a person's records come one after the other
            person = e
            prefix = sep.join(
                (t[e.number], t[e.first_name], t[e.last_name], t[e.email], t[e.unit], t[e.role])
            )
        lines.append(
            sep.join(
                (
                    prefix,
                    t[rec.module_title],
                    t[rec.module],
                    t[rec.status],  # a StrEnum: the member is its value
                    score[rec.latest_score],
                    n[rec.attempts],
                    d[rec.passed_on],
                    d[rec.valid_until],
                    d[rec.due],
                    n[rec.passed_version],
                    n[rec.current_version],
                    t[rec.courses],
                )
            )
        )
        if done % step == 0:
            buffer.write(newline.join(lines) + newline)
            lines.clear()
            if progress and done < total:
                progress(done, total)
    if lines:
        buffer.write(newline.join(lines) + newline)
    data = buffer.getvalue().encode(encoding)
    if progress:
        progress(total, total)
    return data


def to_xlsx(
    records: Sequence[CompetenceRecord],
    progress: Progress | None = None,
    title: str = "Kompetensregister",
) -> bytes:
    """An Excel workbook: real dates, a frozen header row, filters on every column and
    column widths; ``progress(done, total)`` about every hundredth of the rows.

    XlsxWriter in constant-memory mode makes the workbook (styles, freeze pane, filter,
    widths, the package) and streams the rows to a temporary file. Its own per-cell path
    (30 s for 200,000 rows of 17 cells on the 2-core test machine, openpyxl's write-only
    one 50 s) is bypassed for the data rows: :class:`_RowStream` writes each row's XML
    into XlsxWriter's row stream at once (5 s), the same XML XlsxWriter writes
    (``tests/test_records_export.py`` compares them), from a cache of each distinct
    text's escaped form (``tests/benchmarks/bench_records.py`` measures all three).
    """
    with paused_gc():
        return _xlsx(records, progress, title)


# XlsxWriter's options: a text is always a text (never a formula, a link or a number)
XLSX_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "default_date_format": "yyyy-mm-dd",
}
# control characters as Excel escapes them (_xHHHH_), and a literal _xHHHH_ kept as text
_LITERAL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_EDGE_SPACE = re.compile(r"^\s|\s$")
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()  # serial 60 is Excel's 29 February 1900
XLS_STRMAX = 32767


def _inline(text: str) -> str:
    """The end of a text cell's XML after its reference: exactly what XlsxWriter writes
    in constant-memory mode, except that a text looking like rich-text XML (``<r>…</r>``)
    stays a text (XlsxWriter would put it in the file unescaped)."""
    if len(text) > XLS_STRMAX:
        text = text[:XLS_STRMAX]
    text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f' t="inlineStr"><is><t{space}>{text}</t></is></c>'


class _Texts(dict[Any, str]):
    """A text's (or a course list's) cell XML after the reference, neutralised and
    escaped once for every distinct value."""

    def __missing__(self, value: Any) -> str:
        text = ", ".join(value) if isinstance(value, tuple) else value
        if not text:
            tail = ""
        else:
            if text[0] in "=+-@\t\r\n":
                text = "'" + text
            tail = _inline(text)
        self[value] = tail
        return tail


class _Days(dict[Any, str]):
    """A date's cell XML after the reference: its Excel serial in the date style."""

    def __init__(self, style: int) -> None:
        super().__init__()
        self.style = style

    def __missing__(self, day: Any) -> str:
        tail = f' s="{self.style}"><v>{day.toordinal() - _EXCEL_EPOCH}</v></c>'
        self[day] = tail
        return tail


def _rows_xml(records: Sequence[CompetenceRecord], first: int, date_style: int) -> Iterator[str]:
    """One ``<row>`` element per record, in ``HEADERS`` order, the first as sheet row
    ``first`` (1-based): the XML XlsxWriter writes for ``record_rows`` (a None or an
    empty text is no cell). One f-string per row, every text from ``_Texts``: 17 calls
    of XlsxWriter's per cell cost about 25 times as much."""
    t = _Texts()
    d = _Days(date_style)
    for n, rec in enumerate(records, start=first):
        e = rec.employee
        r = str(n)
        num, first_name, last_name, email, unit, role = (
            t[e.number],
            t[e.first_name],
            t[e.last_name],
            t[e.email],
            t[e.unit],
            t[e.role],
        )
        title, module, status, courses = (
            t[rec.module_title],
            t[rec.module],
            t[rec.status],  # a StrEnum: the member is its value
            t[rec.courses],
        )
        score, passed_on, valid_until, passed_version = (
            rec.latest_score,
            rec.passed_on,
            rec.valid_until,
            rec.passed_version,
        )
        yield (
            f'<row r="{r}">'
            + (f'<c r="A{r}"{num}' if num else "")
            + (f'<c r="B{r}"{first_name}' if first_name else "")
            + (f'<c r="C{r}"{last_name}' if last_name else "")
            + (f'<c r="D{r}"{email}' if email else "")
            + (f'<c r="E{r}"{unit}' if unit else "")
            + (f'<c r="F{r}"{role}' if role else "")
            + (f'<c r="G{r}"{title}' if title else "")
            + (f'<c r="H{r}"{module}' if module else "")
            + (f'<c r="I{r}"{status}' if status else "")
            + (f'<c r="J{r}"><v>{score:.16G}</v></c>' if score is not None else "")
            + f'<c r="K{r}"><v>{rec.attempts:.16G}</v></c>'
            + (f'<c r="L{r}"{d[passed_on]}' if passed_on is not None else "")
            + (f'<c r="M{r}"{d[valid_until]}' if valid_until is not None else "")
            + f'<c r="N{r}"{d[rec.due]}'
            + (
                f'<c r="O{r}"><v>{passed_version:.16G}</v></c>'
                if passed_version is not None
                else ""
            )
            + f'<c r="P{r}"><v>{rec.current_version:.16G}</v></c>'
            + (f'<c r="Q{r}"{courses}' if courses else "")
            + "</row>"
        )


class _RowStream(Worksheet):  # type: ignore[misc]
    """XlsxWriter's worksheet (``add_worksheet(worksheet_class=...)``), with whole rows of
    XML written into its constant-memory row stream.

    It leans on four of XlsxWriter's own internals, checked here once: the pending row
    is flushed by ``_write_single_row``, rows go to ``fh``, ``_check_dimensions`` keeps
    the sheet's extent (the ``<dimension>`` element) and ``previous_row`` the last row
    written. Without any of them ``fast`` is False and the rows go cell by cell.
    """

    fast = all(hasattr(Worksheet, name) for name in ("_write_single_row", "_check_dimensions"))

    def flush(self, row: int) -> None:
        """Write out the row XlsxWriter holds, before row ``row`` (0-based) is written."""
        assert self.constant_memory and row >= self.previous_row
        self._write_single_row(row)

    def write_rows_xml(self, first: int, count: int, xml: Iterable[str]) -> None:
        """Rows ``first`` .. ``first + count - 1`` (0-based), as ``<row>`` elements."""
        self.flush(first)
        self.fh.write("".join(xml))
        last = first + count - 1
        self._check_dimensions(last, len(HEADERS) - 1)
        self.previous_row = last + 1


def _xlsx(records: Sequence[CompetenceRecord], progress: Progress | None, title: str) -> bytes:
    from xlsxwriter import Workbook

    buffer = io.BytesIO()
    book = Workbook(buffer, XLSX_OPTIONS)
    sheet = book.add_worksheet(title[:31], worksheet_class=_RowStream)
    for i, name in enumerate(HEADERS):
        sheet.set_column(i, i, max(len(name) + 2, 12))
    sheet.freeze_panes(1, 0)
    sheet.write_row(0, 0, HEADERS, book.add_format({"bold": True}))
    total = len(records)
    sheet.autofilter(0, 0, total, len(HEADERS) - 1)
    step = max(total // 100, 1000)
    if sheet.fast:
        sheet.flush(1)  # the header row first: its bold style gets the first number
        style = book.default_date_format._get_xf_index()
        for start in range(0, total, step):
            chunk = records[start : start + step]
            sheet.write_rows_xml(start + 1, len(chunk), _rows_xml(chunk, start + 2, style))
            if progress and start + len(chunk) < total:
                progress(start + len(chunk), total)
    else:  # an XlsxWriter without the row stream: its own path, cell by cell
        for done, row in enumerate(record_rows(records), start=1):
            sheet.write_row(done, 0, row)
            if progress and done % step == 0 and done < total:
                progress(done, total)
    book.close()
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
