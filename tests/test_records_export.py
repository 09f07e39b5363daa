"""Exports of competence records: XLSX, CSV (Swedish Excel and plain UTF-8) and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from databases import cli_db_args
from openpyxl import load_workbook
from sqlalchemy import update

from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.cli import main
from omsorgslyft.grading.submissions import DONE, SubmissionLog, submission
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records import export
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.export import HEADERS, neutralise, to_csv, to_json, to_xlsx
from omsorgslyft.records.model import CompetenceRecord, Employee, Status
from omsorgslyft.records.store import RecordsStore, Sources

ROOT = Path(__file__).resolve().parents[1]


def person(number: str, first: str, last: str, **kw: Any) -> Employee:
    values: dict[str, Any] = {
        "number": number,
        "username": f"u{number}",
        "first_name": first,
        "last_name": last,
        "email": f"u{number}@kommun.se",
        "unit": "Hemtjänst Norr",
        "role": "undersköterska",
        "start": date(2024, 2, 1),
    }
    values.update(kw)
    return Employee(**values)


PASSED = CompetenceRecord(
    employee=person("1001", "Anna-Karin", "Åberg"),
    module="kasam",
    module_title="Salutogenes och KASAM",
    courses=("grundutbildning", "chefer"),
    status=Status.PASSED,
    due=date(2024, 5, 1),
    current_version=2,
    attempts=3,
    latest_score=87.5,
    passed_on=date(2025, 3, 4),
    valid_until=date(2028, 3, 4),
    passed_version=1,
)
NOT_STARTED = CompetenceRecord(
    employee=person("0042", "Bo", "Berg", unit="Särskilt boende Björkbacken", role="vårdbiträde"),
    module="hbtqi",
    module_title="Hbtqi-personers livsvillkor",
    courses=("grundutbildning",),
    status=Status.NOT_STARTED,
    due=date(2026, 8, 30),
    current_version=1,
)
IN_PROGRESS = CompetenceRecord(
    employee=person("1003", "Cia", "Ek", end=date(2026, 12, 31)),
    module="samiska",
    module_title="Samiskt språk och kultur",
    courses=("samiskt-forvaltningsomrade",),
    status=Status.IN_PROGRESS,
    due=date(2026, 7, 1),
    current_version=1,
    attempts=1,
    latest_score=40.0,
)
EVIL = CompetenceRecord(
    employee=person(
        "1004",
        '=HYPERLINK("http://x")',
        "+1",
        email="\tx@kommun.se",
        unit="-2",
        role="@SUM(A1)",
    ),
    module="kasam",
    module_title="=1+1",
    courses=("grundutbildning",),
    status=Status.OVERDUE,
    due=date(2026, 1, 1),
    current_version=1,
)
RECORDS = [PASSED, NOT_STARTED, IN_PROGRESS, EVIL]
# what each hostile text must become in every spreadsheet format
NEUTRALISED = {
    "Förnamn": '\'=HYPERLINK("http://x")',
    "Efternamn": "'+1",
    "E-post": "'\tx@kommun.se",
    "Enhet": "'-2",
    "Befattning": "'@SUM(A1)",
    "Modul": "'=1+1",
}


def expected(r: CompetenceRecord) -> dict[str, Any]:
    """One record as an export row should hold it (text neutralised, dates as dates)."""
    e = r.employee
    row: dict[str, Any] = {
        "Anställningsnummer": e.number,
        "Förnamn": e.first_name,
        "Efternamn": e.last_name,
        "E-post": e.email,
        "Enhet": e.unit,
        "Befattning": e.role,
        "Modul": r.module_title,
        "Modul-id": r.module,
        "Status": r.status.value,
        "Senaste resultat (%)": r.latest_score,
        "Antal försök": r.attempts,
        "Godkänd": r.passed_on,
        "Giltig till": r.valid_until,
        "Klar senast": r.due,
        "Godkänd version": r.passed_version,
        "Aktuell version": r.current_version,
        "Kurser": ", ".join(r.courses),
    }
    if r is EVIL:
        row.update(NEUTRALISED)
    return row


def test_headers_are_swedish_and_in_order() -> None:
    assert HEADERS == (
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


@pytest.mark.parametrize(
    ("value", "out"),
    [
        ("=1+1", "'=1+1"),
        ("+46701234567", "'+46701234567"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Anna-Karin", "Anna-Karin"),
        ("a=b", "a=b"),
        ("", ""),
        (-2, -2),
        (None, None),
    ],
)
def test_neutralise(value: Any, out: Any) -> None:
    assert neutralise(value) == out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def _same(got: Any, want: Any, column: str) -> None:
    if want is None:
        assert _missing(got), column
    elif isinstance(want, date):
        assert pd.Timestamp(got) == pd.Timestamp(want), column
    elif isinstance(want, float | int) and not isinstance(want, bool):
        assert not isinstance(got, str), column
        assert float(got) == float(want), column
    else:
        assert got == want, column


def _check_frame(frame: pd.DataFrame, records: list[CompetenceRecord]) -> None:
    assert list(frame.columns) == list(HEADERS)
    assert len(frame) == len(records)
    for (_, row), r in zip(frame.iterrows(), records, strict=True):
        for column, want in expected(r).items():
            _same(row[column], want, column)


def test_csv_for_swedish_excel() -> None:
    data = to_csv(RECORDS, "excel-sv")
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\n") == data.count(b"\r\n") == len(RECORDS) + 1
    text = data.decode("utf-8-sig")
    assert text.split("\r\n")[0] == ";".join(HEADERS)
    assert ";87,5;" in text  # decimal comma
    frame = pd.read_csv(
        io.BytesIO(data),
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype={"Anställningsnummer": str},
    )
    _check_frame(frame, RECORDS)
    assert frame.loc[1, "Anställningsnummer"] == "0042"
    assert frame["Senaste resultat (%)"].dtype == "float64"


def test_csv_in_plain_utf8() -> None:
    data = to_csv(RECORDS, "utf8")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in data
    text = data.decode("utf-8")
    assert text.split("\n")[0] == ",".join(HEADERS)
    assert ",87.5," in text
    assert '"grundutbildning, chefer"' in text
    frame = pd.read_csv(
        io.BytesIO(data), sep=",", encoding="utf-8", dtype={"Anställningsnummer": str}
    )
    _check_frame(frame, RECORDS)


def test_csv_dialect_must_be_known() -> None:
    with pytest.raises(ValueError):
        to_csv(RECORDS, "latin1")


def test_xlsx_read_back_with_pandas() -> None:
    frame = pd.read_excel(io.BytesIO(to_xlsx(RECORDS)), dtype={"Anställningsnummer": str})
    _check_frame(frame, RECORDS)
    assert str(frame["Godkänd"].dtype).startswith("datetime64")


def test_xlsx_read_back_with_openpyxl() -> None:
    book = load_workbook(io.BytesIO(to_xlsx(RECORDS, title="Kompetensregister 2026")))
    sheet = book.worksheets[0]
    assert sheet.title == "Kompetensregister 2026"
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == list(HEADERS)
    assert all(c.font.b for c in rows[0])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:Q{len(RECORDS) + 1}"
    for cells, r in zip(rows[1:], RECORDS, strict=True):
        by_name = dict(zip(HEADERS, cells, strict=True))
        for column, want in expected(r).items():
            cell = by_name[column]
            assert cell.data_type != "f", column
            if isinstance(want, date):
                assert cell.is_date, column
                assert cell.number_format == "yyyy-mm-dd"
                assert cell.value == datetime(want.year, want.month, want.day), column
            elif isinstance(want, float | int):
                assert cell.data_type == "n", column
                assert cell.value == want, column
            elif want is None:
                assert cell.value is None, column
            else:
                assert cell.data_type == "s", column
                assert cell.value == want, column


def test_hostile_text_is_never_a_formula_in_any_format() -> None:
    book = load_workbook(io.BytesIO(to_xlsx([EVIL])))
    cells = dict(zip(HEADERS, next(book.worksheets[0].iter_rows(min_row=2)), strict=True))
    excel_sv = pd.read_csv(io.BytesIO(to_csv([EVIL])), sep=";", decimal=",", encoding="utf-8-sig")
    utf8 = pd.read_csv(io.BytesIO(to_csv([EVIL], "utf8")), sep=",")
    for column, text in NEUTRALISED.items():
        assert text.startswith("'")
        assert cells[column].data_type == "s"
        assert cells[column].value == text
        assert excel_sv.loc[0, column] == text
        assert utf8.loc[0, column] == text


def _sheet_xml(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return book.read("xl/worksheets/sheet1.xml")


ODD = NOT_STARTED._replace(
    employee=person(
        "0007",
        " inledande",
        "avslutande ",
        email="a&b<c>\"d'e",
        unit="_x0041_ \x01 \x1f x\nrad",
        role="\ufffe\uffff",
    ),
    module_title="Ärende, 100 % — ∑ 🙂",
    latest_score=33.3,
    attempts=12,
)


def test_xlsx_rows_are_the_xml_xlsxwriter_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The data rows go into XlsxWriter's row stream as XML written here (export.py,
    ``_RowStream``): byte for byte what XlsxWriter's own cell-by-cell path writes, with
    escapes, control characters, whitespace, numbers and dates."""
    many = [*RECORDS, ODD, *(RECORDS * 300)]  # 1,205 rows: more than one chunk of rows
    fast = to_xlsx(many, title="Register")
    monkeypatch.setattr(export._RowStream, "fast", False)
    slow = to_xlsx(many, title="Register")
    assert _sheet_xml(fast) == _sheet_xml(slow)
    with zipfile.ZipFile(io.BytesIO(fast)) as a, zipfile.ZipFile(io.BytesIO(slow)) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            if name != "docProps/core.xml":  # holds the time it was written
                assert a.read(name) == b.read(name), name
    cells = dict(
        zip(
            HEADERS,
            next(load_workbook(io.BytesIO(fast)).worksheets[0].iter_rows(min_row=6)),
            strict=True,
        )
    )
    assert cells["Förnamn"].value == " inledande" and cells["Efternamn"].value == "avslutande "
    assert cells["E-post"].value == "a&b<c>\"d'e"
    assert cells["Modul"].value == "Ärende, 100 % — ∑ 🙂"
    assert cells["Senaste resultat (%)"].value == 33.3


def test_xlsx_text_that_looks_like_xml_stays_text() -> None:
    """XlsxWriter would write a text like ``<r>…</r>`` into the file unescaped, as rich
    text; here it is a text like any other."""
    hostile = NOT_STARTED._replace(
        employee=person("0008", "<r><t>x</t></r>", "<r>", unit="</t></is></c><c>")
    )
    data = to_xlsx([hostile])
    row = next(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(min_row=2, values_only=True))
    assert row[1:5] == ("<r><t>x</t></r>", "<r>", hostile.employee.email, "</t></is></c><c>")
    assert b"&lt;r&gt;&lt;t&gt;x&lt;/t&gt;&lt;/r&gt;" in _sheet_xml(data)


def test_xlsx_column_widths_and_sheet_name() -> None:
    data = to_xlsx(RECORDS, title="x" * 40)
    assert load_workbook(io.BytesIO(data)).worksheets[0].title == "x" * 31
    widths: dict[int, float] = {}
    for low, high, width in re.findall(
        r'<col min="(\d+)" max="(\d+)" width="([\d.]+)"', _sheet_xml(data).decode()
    ):
        widths.update(dict.fromkeys(range(int(low), int(high) + 1), float(width)))
    # XlsxWriter stores a width of N characters as N + 0.71 (Excel's padding)
    assert [int(widths[i + 1]) for i in range(len(HEADERS))] == [
        max(len(h) + 2, 12) for h in HEADERS
    ]


def _csv_the_plain_way(records: list[CompetenceRecord], dialect: str) -> bytes:
    """``record_rows`` through ``csv.writer`` (what export.py did before it cached fields)."""
    sep, decimal, newline, encoding = {
        "excel-sv": (";", ",", "\r\n", "utf-8-sig"),
        "utf8": (",", ".", "\n", "utf-8"),
    }[dialect]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=newline)
    writer.writerow(HEADERS)
    for row in export.record_rows(records):
        row[9] = None if row[9] is None else repr(row[9]).replace(".", decimal)
        writer.writerow([v.isoformat() if isinstance(v, date) else v for v in row])
    return buffer.getvalue().encode(encoding)


@pytest.mark.parametrize("dialect", ["excel-sv", "utf8"])
def test_csv_is_what_the_csv_module_writes(dialect: str) -> None:
    quoting = NOT_STARTED._replace(
        employee=person(
            "0009", 'Citat "x"', "semi;kolon", email="", unit="rad\nbrytning", role="a,b"
        ),
        courses=(),
    )
    many = [*RECORDS, ODD, quoting, *(RECORDS * 400)]
    assert to_csv(many, dialect) == _csv_the_plain_way(many, dialect)


def test_csv_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    data = to_csv([NOT_STARTED] * 2500, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    assert data.count(b"\r\n") == 2501


def test_xlsx_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    many = [NOT_STARTED] * 1500
    data = to_xlsx(many, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1000, 1500), (1500, 1500)]
    rows = load_workbook(io.BytesIO(data), read_only=True).worksheets[0].iter_rows()
    assert sum(1 for _ in rows) == 1501


def test_json_shape() -> None:
    out = to_json([PASSED, NOT_STARTED])
    assert out[0] == {
        "employee_number": "1001",
        "username": "u1001",
        "name": "Anna-Karin Åberg",
        "unit": "Hemtjänst Norr",
        "role": "undersköterska",
        "module": "kasam",
        "module_title": "Salutogenes och KASAM",
        "status": "godkänd",
        "latest_score": 87.5,
        "attempts": 3,
        "passed_on": "2025-03-04",
        "valid_until": "2028-03-04",
        "due": "2024-05-01",
        "passed_version": 1,
        "current_version": 2,
        "courses": ["grundutbildning", "chefer"],
    }
    assert out[1]["status"] == "ej påbörjad"
    assert (out[1]["latest_score"], out[1]["passed_on"], out[1]["valid_until"]) == (None,) * 3
    assert out[1]["due"] == "2026-08-30"
    assert json.loads(json.dumps(out)) == out


def test_empty_exports_have_headers_only() -> None:
    assert to_csv([], "utf8").decode() == ",".join(HEADERS) + "\n"
    book = load_workbook(io.BytesIO(to_xlsx([])))
    assert [[c.value for c in row] for row in book.worksheets[0].iter_rows()] == [list(HEADERS)]
    assert to_json([]) == []


# -- from a real store ----------------------------------------------------------------------------
def test_records_computed_from_a_store_export_as_they_are(db_urls: dict[str, str]) -> None:
    store = RecordsStore(
        db_urls["records"], Sources(db_urls["submissions"], "", db_urls["answers"])
    )
    log = SubmissionLog(db_urls["submissions"])
    try:
        anna = person("1001", "Anna", "Åberg", username="anna")
        bo = person("1002", "Bo", "=Berg", username="bo", start=date(2026, 1, 1))
        plan = store.plan_import([anna, bo])
        store.apply_import(plan, "personal.csv", by="test")
        store.note_versions([("kasam", "Salutogenes och KASAM", 1)], date(2024, 1, 1))
        log.receive("s1", "anna", "kasam", 1, {"k1": "a"})
        log.finish("s1", DONE, {"score": 9.0, "max_score": 10.0, "passed": True})
        with log.engine.begin() as conn:
            conn.execute(
                update(submission)
                .where(submission.c.id == "s1")
                .values(graded_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
            )
        grund = Course("grund", "Grund", "", ("kasam",), (), (), 90, 36, NewVersionRule.KEEP)
        records = compute_records(store, [grund], {"kasam": 80}, date(2026, 6, 15))
        by_user = {r.employee.username: r for r in records}
        assert by_user["anna"].status is Status.PASSED
        assert (by_user["anna"].passed_on, by_user["anna"].valid_until) == (
            date(2026, 3, 2),
            date(2029, 3, 2),
        )
        assert (by_user["anna"].latest_score, by_user["anna"].attempts) == (90.0, 1)
        assert by_user["bo"].status is Status.OVERDUE  # 1 January + 90 days = 1 April

        frame = pd.read_excel(io.BytesIO(to_xlsx(records)), dtype={"Anställningsnummer": str})
        rows = {row["Förnamn"]: row for _, row in frame.iterrows()}
        assert set(rows) == {"Anna", "Bo"}
        assert rows["Bo"]["Efternamn"] == "'=Berg"
        assert rows["Anna"]["Status"] == "godkänd"
        assert rows["Anna"]["Godkänd"] == pd.Timestamp(2026, 3, 2)
        assert rows["Anna"]["Senaste resultat (%)"] == 90.0
        for dialect, sep, decimal in (("excel-sv", ";", ","), ("utf8", ",", ".")):
            frame = pd.read_csv(
                io.BytesIO(to_csv(records, dialect)),
                sep=sep,
                decimal=decimal,
                encoding="utf-8-sig",
                dtype={"Anställningsnummer": str},
            )
            got = {row["Anställningsnummer"]: row for _, row in frame.iterrows()}
            for r in records:
                row = got[r.employee.number]
                assert row["Status"] == r.status.value
                assert row["Klar senast"] == r.due.isoformat()
                _same(row["Senaste resultat (%)"], r.latest_score, dialect)
                _same(row["Antal försök"], r.attempts, dialect)
        assert [(j["username"], j["status"]) for j in to_json(records)] == [
            (r.employee.username, r.status.value) for r in records
        ]
    finally:
        store.dispose()
        log.engine.dispose()


# -- the command line -------------------------------------------------------------------------
ROSTER = """anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från;anställd till
2001;Anna;Åberg;anna@kommun.se;Hemtjänst Norr;undersköterska;2026-06-01;
2002;Nils;Nilsson;nils@kommun.se;Hemtjänst Fjällvägen;enhetschef;2026-01-01;
2003;Karl;Kock;karl@kommun.se;Köket;kock;2025-01-01;
2004;"=HYPERLINK(""http://x"")";+1;x@kommun.se;-2;vårdbiträde;2026-06-01;
"""
# the statuses on 15 June 2026: nothing is done by anyone yet
WANT = {
    ("2001", "kasam"): ("ej påbörjad", date(2026, 8, 30)),
    ("2001", "hbtqi"): ("ej påbörjad", date(2026, 8, 30)),
    ("2001", "samiska"): ("ej påbörjad", date(2026, 8, 30)),
    ("2001", "personcentrering"): ("ej påbörjad", date(2026, 8, 30)),
    ("2002", "personcentrering"): ("försenad", date(2026, 3, 2)),  # chefer: 60 days
    ("2002", "kasam"): ("försenad", date(2026, 3, 2)),
    ("2002", "samiska"): ("försenad", date(2026, 1, 31)),  # samiskt förvaltningsområde: 30
    ("2004", "kasam"): ("ej påbörjad", date(2026, 8, 30)),
    ("2004", "hbtqi"): ("ej påbörjad", date(2026, 8, 30)),
    ("2004", "samiska"): ("ej påbörjad", date(2026, 8, 30)),
    ("2004", "personcentrering"): ("ej påbörjad", date(2026, 8, 30)),
}


def _read(fmt: str, path: Path) -> list[dict[str, Any]]:
    if fmt == "json":
        return [
            {
                "Anställningsnummer": j["employee_number"],
                "Förnamn": j["name"].split(" ")[0],
                "Enhet": j["unit"],
                "Modul-id": j["module"],
                "Modul": j["module_title"],
                "Status": j["status"],
                "Klar senast": date.fromisoformat(j["due"]),
            }
            for j in json.loads(path.read_text(encoding="utf-8"))
        ]
    if fmt == "xlsx":
        frame = pd.read_excel(path, dtype={"Anställningsnummer": str})
        rows = frame.to_dict("records")
        for row in rows:
            row["Klar senast"] = row["Klar senast"].date()
        return rows
    sep, decimal, encoding = (";", ",", "utf-8-sig") if fmt == "csv" else (",", ".", "utf-8")
    if fmt == "csv":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    else:
        assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(
        path, sep=sep, decimal=decimal, encoding=encoding, dtype={"Anställningsnummer": str}
    )
    rows = frame.to_dict("records")
    for row in rows:
        row["Klar senast"] = date.fromisoformat(row["Klar senast"])
    return rows


@pytest.mark.slow
def test_cli_exports_every_format(
    tmp_path: Path, db_urls: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "projekt"
    shutil.copytree(ROOT / "modules", root / "modules")
    shutil.copytree(ROOT / "courses", root / "courses")
    titles = {m.id: m.title for m in load_modules([root / "modules"], root)[0]}
    roster = tmp_path / "personal.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    urls = cli_db_args(db_urls)
    assert main(["--root", str(root), "roster", "import", str(roster), *urls]) == 0
    assert "4 nya" in capsys.readouterr().out

    for fmt in ("xlsx", "csv", "csv-utf8", "json"):
        out = tmp_path / f"register.{fmt}"
        args = ["--root", str(root), "export", "--format", fmt, "-o", str(out)]
        assert main([*args, "--datum", "2026-06-15", *urls]) == 0
        assert f"{len(WANT)} poster beräknade" in capsys.readouterr().err
        rows = _read(fmt, out)
        got = {
            (r["Anställningsnummer"], r["Modul-id"]): (r["Status"], r["Klar senast"]) for r in rows
        }
        assert got == WANT, fmt
        assert all(r["Modul"] == titles[r["Modul-id"]] for r in rows)
        hostile = {r["Förnamn"] for r in rows if r["Anställningsnummer"] == "2004"}
        units = {r["Enhet"] for r in rows if r["Anställningsnummer"] == "2004"}
        if fmt == "json":
            assert units == {"-2"}
        else:
            assert hostile == {'\'=HYPERLINK("http://x")'}, fmt
            assert units == {"'-2"}, fmt

    # another day gives other statuses; a filter narrows the rows
    out = tmp_path / "fjallvagen.json"
    args = ["--root", str(root), "export", "--format", "json", "-o", str(out)]
    assert main([*args, "--datum", "2026-01-15", "--enhet", "Hemtjänst Fjällvägen", *urls]) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert {(j["module"], j["status"]) for j in rows} == {
        ("personcentrering", "ej påbörjad"),
        ("kasam", "ej påbörjad"),
        ("samiska", "ej påbörjad"),
    }
