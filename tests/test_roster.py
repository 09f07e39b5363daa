"""Roster import: CSV and XLSX files from HR systems, row-numbered errors, and the store."""

from __future__ import annotations

import io
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from databases import cli_db_args
from sqlalchemy import func, select

from omsorgslyft.cli import main
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.model import Employee, Status
from omsorgslyft.records.roster import RosterError, read_roster
from omsorgslyft.records.store import RecordsStore, Sources, employee, roster_import

ROOT = Path(__file__).resolve().parents[1]

HEADER = [
    "anställningsnummer",
    "förnamn",
    "efternamn",
    "e-post",
    "enhet",
    "befattning",
    "anställd från",
    "anställd till",
    "användarnamn",
]
ANNA = [
    "1001",
    "Anna",
    "Åberg",
    "anna.aberg@kommun.se",
    "Hemtjänst Norr",
    "undersköterska",
    "2024-02-01",
    "",
    "anna",
]
BJORN = [
    "1002",
    "Björn",
    "Öst",
    "Bjorn.Ost@Kommun.se",
    "Särskilt boende Björkbacken",
    "vårdbiträde",
    "2023-09-15",
    "2026-12-31",
    "",
]

EXPECTED = (
    Employee(
        number="1001",
        username="anna",
        first_name="Anna",
        last_name="Åberg",
        email="anna.aberg@kommun.se",
        unit="Hemtjänst Norr",
        role="undersköterska",
        start=date(2024, 2, 1),
        end=None,
    ),
    Employee(
        number="1002",
        username="bjorn.ost@kommun.se",  # no username column value: the e-mail, lower case
        first_name="Björn",
        last_name="Öst",
        email="bjorn.ost@kommun.se",
        unit="Särskilt boende Björkbacken",
        role="vårdbiträde",
        start=date(2023, 9, 15),
        end=date(2026, 12, 31),
    ),
)


def csv_text(rows: list[list[str]], sep: str = ",", header: list[str] = HEADER) -> str:
    def quote(v: str) -> str:
        return f'"{v}"' if sep in v or '"' in v else v

    return "".join(sep.join(quote(v) for v in row) + "\r\n" for row in [header, *rows])


def csv_bytes(rows: list[list[str]], sep: str = ",", bom: bool = False) -> bytes:
    return csv_text(rows, sep).encode("utf-8-sig" if bom else "utf-8")


# -- reading files --------------------------------------------------------------------------
@pytest.mark.parametrize("sep", [",", ";"])
@pytest.mark.parametrize("bom", [False, True])
def test_csv_with_either_separator_and_with_or_without_bom(sep: str, bom: bool) -> None:
    roster = read_roster(csv_bytes([ANNA, BJORN], sep, bom), "personal.csv")
    assert roster.errors == ()
    assert roster.employees == EXPECTED


def test_semicolon_file_keeps_commas_inside_fields() -> None:
    row = [*ANNA]
    row[4] = "Hemtjänst Norr, natt"
    data = ("\n".join(";".join(r) for r in [HEADER, row]) + "\n").encode()
    roster = read_roster(data, "personal.csv")
    assert roster.errors == ()
    assert roster.employees[0].unit == "Hemtjänst Norr, natt"


def test_other_column_spellings_any_case_and_any_order() -> None:
    header = [
        "Användarnamn",
        "Anst.nr",
        "Förnamn",
        "Efternamn",
        "Mejl",
        "Arbetsplats",
        "Yrke",
        "Startdatum",
        "Slutdatum",
    ]
    row = [
        "anna",
        "1001",
        "Anna",
        "Åberg",
        "ANNA.ABERG@kommun.se",
        "Hemtjänst Norr",
        "undersköterska",
        "20240201",
        "",
    ]
    data = csv_text([row], ";", header).encode()
    roster = read_roster(data, "export.txt")
    assert roster.errors == ()
    assert roster.employees == EXPECTED[:1]


def test_xlsx_with_real_date_and_number_cells() -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(
        [
            1001,
            "Anna",
            "Åberg",
            "anna.aberg@kommun.se",
            "Hemtjänst Norr",
            "undersköterska",
            datetime(2024, 2, 1),
            None,
            "anna",
        ]
    )
    sheet.append(
        [
            1002.0,
            "Björn",
            "Öst",
            "Bjorn.Ost@Kommun.se",
            "Särskilt boende Björkbacken",
            "vårdbiträde",
            date(2023, 9, 15),
            "2026-12-31",
            None,
        ]
    )
    assert sheet["G2"].is_date and sheet["G3"].is_date
    buffer = io.BytesIO()
    book.save(buffer)
    roster = read_roster(buffer.getvalue(), "Personal.XLSX")
    assert roster.errors == ()
    assert roster.employees == EXPECTED


def test_xlsx_that_is_not_a_workbook() -> None:
    roster = read_roster(b"not a zip file", "personal.xlsx")
    assert roster.employees == ()
    assert [e.row for e in roster.errors] == [0]
    assert "Excel-filen går inte att öppna" in roster.errors[0].message


def test_a_file_that_is_not_utf8_is_a_file_error() -> None:
    data = csv_text([ANNA, BJORN], ";").encode("cp1252")
    roster = read_roster(data, "personal.csv")
    assert roster.employees == ()
    assert len(roster.errors) == 1
    error = roster.errors[0]
    assert error.row == 0
    assert "UTF-8" in str(error)
    assert "inte sparad som UTF-8" in str(error)
    assert not str(error).startswith("Rad")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "personal.csv", "Filen är tom."),
        (csv_bytes([]), "personal.csv", "Filen har inga anställda, bara rubrikraden."),
        (
            csv_bytes([ANNA]),
            "personal.pdf",
            "Filen ska vara en CSV-fil (.csv) eller en Excel-fil (.xlsx).",
        ),
    ],
)
def test_whole_file_problems(data: bytes, name: str, message: str) -> None:
    roster = read_roster(data, name)
    assert roster.employees == ()
    assert roster.errors == (RosterError(0, message),)


def test_row_errors_name_the_row_as_excel_shows_it() -> None:
    empty_name = [
        "1003",
        "",
        "Ek",
        "c@kommun.se",
        "Hemtjänst Norr",
        "vårdbiträde",
        "2024-01-01",
        "",
        "c",
    ]
    bad_date = [
        "1004",
        "Dan",
        "Dahl",
        "d@kommun.se",
        "Hemtjänst Norr",
        "vårdbiträde",
        "1/2/2024",
        "",
        "d",
    ]
    end_first = [
        "1005",
        "Eva",
        "Ek",
        "e@kommun.se",
        "Hemtjänst Norr",
        "vårdbiträde",
        "2024-05-01",
        "2024-04-30",
        "e",
    ]
    bad_mail = [
        "1006",
        "Fia",
        "Fors",
        "fia.kommun.se",
        "Hemtjänst Norr",
        "vårdbiträde",
        "2024-01-01",
        "",
        "f",
    ]
    same_number = [
        "1001",
        "Gun",
        "Gran",
        "g@kommun.se",
        "Hemtjänst Norr",
        "vårdbiträde",
        "2024-01-01",
        "",
        "g",
    ]
    same_user = [
        "1008",
        "Hans",
        "Hed",
        "h@kommun.se",
        "Hemtjänst Norr",
        "vårdbiträde",
        "2024-01-01",
        "",
        "ANNA",
    ]
    rows = [ANNA, empty_name, bad_date, end_first, bad_mail, same_number, same_user, BJORN]
    roster = read_roster(csv_bytes(rows, ";"), "personal.csv")
    errors = {e.row: str(e) for e in roster.errors}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert errors[3].startswith("Rad 3: ")
    assert "”förnamn” är tomt" in errors[3]
    assert "”anställd från” ”1/2/2024” är inget datum" in errors[4]
    assert "”anställd till” är före ”anställd från”" in errors[5]
    assert "e-post ”fia.kommun.se” är ingen e-postadress" in errors[6]
    assert "anställningsnumret ”1001” finns redan på rad 2" in errors[7]
    assert "användarnamnet ”anna” finns redan på rad 2" in errors[8]
    # the good rows are read, but a caller must import nothing while there are errors
    assert [e.number for e in roster.employees] == ["1001", "1002"]


def test_first_data_row_is_row_two() -> None:
    bad = [*ANNA]
    bad[6] = "2024-02-30"
    roster = read_roster(csv_bytes([bad]), "personal.csv")
    assert [e.row for e in roster.errors] == [2]
    assert str(roster.errors[0]).startswith("Rad 2: ")


def test_blank_rows_are_skipped_but_still_counted() -> None:
    bad = [*BJORN]
    bad[3] = "@kommun.se"
    text = csv_text([ANNA]) + ",,,,,,,,\r\n" + csv_text([bad]).split("\r\n", 1)[1]
    roster = read_roster(text.encode(), "personal.csv")
    assert [e.row for e in roster.errors] == [4]


@pytest.mark.parametrize("column", ["enhet", "anställd från", "e-post"])
def test_a_missing_column_is_a_row_one_error_naming_it(column: str) -> None:
    keep = [i for i, name in enumerate(HEADER) if name != column]
    header = [HEADER[i] for i in keep]
    rows = [[r[i] for i in keep] for r in (ANNA, BJORN)]
    roster = read_roster(csv_text(rows, ";", header).encode(), "personal.csv")
    assert roster.employees == ()
    assert len(roster.errors) == 1
    assert roster.errors[0].row == 1
    assert str(roster.errors[0]).startswith(f"Rad 1: Kolumn saknas: ”{column}”.")


# -- the store --------------------------------------------------------------------------------
def person(
    number: str, username: str, last: str, unit: str = "Hemtjänst Norr", **kw: object
) -> Employee:
    values: dict[str, object] = {
        "number": number,
        "username": username,
        "first_name": username.title(),
        "last_name": last,
        "email": f"{username}@kommun.se",
        "unit": unit,
        "role": "undersköterska",
        "start": date(2024, 1, 1),
    }
    values.update(kw)
    return Employee(**values)  # type: ignore[arg-type]


A = person("1001", "anna", "Andersson")
B = person("1002", "bo", "Berg")
C = person("1003", "cia", "Carlsson")
D = person("1004", "dan", "Dahl")
E = person("1005", "eva", "Ek")


@pytest.fixture
def store(db_urls: dict[str, str]):  # type: ignore[no-untyped-def]
    s = RecordsStore(
        db_urls["records"],
        Sources(db_urls["submissions"], db_urls["gradebook"], db_urls["answers"]),
    )
    yield s
    s.dispose()


def imported(store: RecordsStore, people: list[Employee], name: str = "personal.csv") -> None:
    plan = store.plan_import(people)
    assert plan.conflicts == []
    store.apply_import(plan, name, by="test")


def snapshot(store: RecordsStore) -> list[tuple[Employee, object]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(employee.c.number, employee.c.updated_at)).all()
    stamps = dict(rows)
    return [(e, stamps[e.number]) for e in store.employees()]


def import_count(store: RecordsStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(roster_import)).scalar_one())


def test_dry_run_plan_shows_every_change_and_writes_nothing(store: RecordsStore) -> None:
    imported(store, [A, B, C, D])
    imported(store, [A, B, C])  # D leaves
    before, count = snapshot(store), import_count(store)
    moved = person("1002", "bo", "Berg", unit="Hemtjänst Syd")
    plan = store.plan_import([A, moved, D, E])
    assert plan.conflicts == []
    assert plan.added == [E]
    assert plan.changed == [(B, moved)]
    assert [e.number for e in plan.deactivated] == ["1003"]
    assert plan.reactivated == [D]
    assert plan.unchanged == 1
    assert plan.changes == 4
    assert plan.summary() == "1 nya, 1 ändrade, 1 avslutade, 1 återaktiverade, 1 oförändrade"
    assert snapshot(store) == before
    assert import_count(store) == count


def test_reimporting_the_same_file_changes_nothing_but_is_logged(store: RecordsStore) -> None:
    imported(store, [A, B, C], "v1.csv")
    before = snapshot(store)
    plan = store.plan_import([A, B, C])
    assert (plan.changes, plan.unchanged) == (0, 3)
    store.apply_import(plan, "v1-igen.csv", by="hr")
    assert snapshot(store) == before
    log = store.imports()
    assert len(log) == 2
    latest = log[0]
    assert (latest["filename"], latest["imported_by"]) == ("v1-igen.csv", "hr")
    assert [latest[k] for k in ("added", "changed", "deactivated", "reactivated", "unchanged")] == [
        0,
        0,
        0,
        0,
        3,
    ]
    assert [log[1][k] for k in ("added", "unchanged")] == [3, 0]


def test_applied_changes_are_stored(store: RecordsStore) -> None:
    imported(store, [A, B])
    moved = person("1002", "bo", "Berg", unit="Hemtjänst Syd", end=date(2026, 12, 31))
    imported(store, [A, moved])
    assert store.employee_by_number("1002") == moved
    assert store.employee_by_username("bo") == moved


def test_a_person_missing_from_the_file_is_deactivated_not_removed(store: RecordsStore) -> None:
    imported(store, [A, B])
    imported(store, [A])
    gone = store.employee_by_number("1002")
    assert gone is not None
    assert gone.active is False
    assert {e.number for e in store.employees(include_inactive=False)} == {"1001"}
    assert {e.number for e in store.employees(include_inactive=True)} == {"1001", "1002"}
    with store.engine.connect() as conn:
        stamp = conn.execute(
            select(employee.c.deactivated_at).where(employee.c.number == "1002")
        ).scalar_one()
    assert stamp is not None

    # their records are still there for HR to see
    store.note_versions([("kasam", "KASAM", 1)], date(2024, 1, 1))
    grund = Course("grund", "Grund", "", ("kasam",), (), (), 90, 36, NewVersionRule.KEEP)
    today = date(2026, 6, 1)
    active_only = compute_records(store, [grund], {"kasam": 80}, today)
    everyone = compute_records(store, [grund], {"kasam": 80}, today, include_inactive=True)
    assert [r.employee.number for r in active_only] == ["1001"]
    assert sorted(r.employee.number for r in everyone) == ["1001", "1002"]
    assert {r.status for r in everyone} == {Status.OVERDUE}
    assert compute_records(store, [grund], {"kasam": 80}, today, learner="bo") == []
    one = compute_records(store, [grund], {"kasam": 80}, today, "bo", include_inactive=True)
    assert [(r.employee.username, r.module) for r in one] == [("bo", "kasam")]


def test_coming_back_reactivates(store: RecordsStore) -> None:
    imported(store, [A, B])
    imported(store, [A])
    imported(store, [A, B])
    back = store.employee_by_number("1002")
    assert back == B
    assert back is not None and back.active
    with store.engine.connect() as conn:
        stamp = conn.execute(
            select(employee.c.deactivated_at).where(employee.c.number == "1002")
        ).scalar_one()
    assert stamp is None
    assert store.imports()[0]["reactivated"] == 1


def test_a_username_moving_to_another_number_blocks_the_import(store: RecordsStore) -> None:
    imported(store, [A, B])
    before, count = snapshot(store), import_count(store)
    thief = person("1009", "anna", "Ny")
    plan = store.plan_import([B, thief, E])
    assert len(plan.conflicts) == 1
    assert "”anna”" in plan.conflicts[0]
    assert "1009" in plan.conflicts[0] and "1001" in plan.conflicts[0]
    with pytest.raises(ValueError, match="tillhör redan anställningsnummer 1001"):
        store.apply_import(plan, "personal.csv", by="test")
    assert snapshot(store) == before
    assert import_count(store) == count


# -- the command line -------------------------------------------------------------------------
def _project(tmp_path: Path) -> Path:
    root = tmp_path / "projekt"
    shutil.copytree(ROOT / "modules", root / "modules")
    shutil.copytree(ROOT / "courses", root / "courses")
    return root


def test_cli_imports_and_a_bad_file_imports_nothing(
    tmp_path: Path, db_urls: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    good = tmp_path / "personal.csv"
    good.write_bytes(csv_bytes([ANNA, BJORN], ";", bom=True))
    args = ["--root", str(root), "roster", "import", str(good), *cli_db_args(db_urls)]

    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ny:          1001 Anna Åberg" in out
    assert "Provkörning, inget sparades: 2 nya" in out
    store = RecordsStore(db_urls["records"])
    try:
        assert store.employees() == []
        assert main(args) == 0
        assert "Importerat från personal.csv: 2 nya" in capsys.readouterr().out
        assert store.employees(include_inactive=True) == sorted(
            EXPECTED, key=lambda e: (e.unit, e.last_name)
        )
        before, count = snapshot(store), import_count(store)

        # one bad row among good ones (and Björn missing): nothing changes
        bad_row = [*ANNA]
        bad_row[0], bad_row[8], bad_row[6] = "1003", "cecilia", "2024-13-01"
        bad = tmp_path / "ny.csv"
        bad.write_bytes(csv_bytes([ANNA, bad_row], ";"))
        assert main(["--root", str(root), "roster", "import", str(bad), *cli_db_args(db_urls)]) == 1
        captured = capsys.readouterr()
        assert f"{bad}: Rad 3: ”anställd från” ”2024-13-01” är inget datum" in captured.out
        assert "Inget importerades: 1 fel." in captured.err
        assert snapshot(store) == before
        assert import_count(store) == count

        # a username conflict: nothing changes either
        conflict = [*BJORN]
        conflict[0], conflict[8] = "1009", "anna"
        clash = tmp_path / "krock.csv"
        clash.write_bytes(csv_bytes([conflict, BJORN], ";"))
        assert (
            main(["--root", str(root), "roster", "import", str(clash), *cli_db_args(db_urls)]) == 1
        )
        assert "tillhör redan anställningsnummer 1001" in capsys.readouterr().out
        assert snapshot(store) == before
        assert import_count(store) == count

        # a file that is not UTF-8
        legacy = tmp_path / "ansi.csv"
        legacy.write_bytes(csv_text([ANNA], ";").encode("cp1252"))
        assert (
            main(["--root", str(root), "roster", "import", str(legacy), *cli_db_args(db_urls)]) == 1
        )
        assert "inte sparad som UTF-8" in capsys.readouterr().out
        assert snapshot(store) == before
    finally:
        store.dispose()


def test_an_import_never_brings_back_someone_past_retention(db_urls: dict[str, str]) -> None:
    """People whose employment ended before the retention limit are skipped, not re-added."""
    from omsorgslyft.records.store import RecordsStore

    store = RecordsStore(db_urls["records"])
    old = Employee(
        "9001",
        "gammal",
        "Gam",
        "Mal",
        "g@x.se",
        "Enhet",
        "vårdbiträde",
        date(2010, 1, 1),
        date(2020, 1, 1),
    )
    recent = Employee(
        "9002",
        "ny",
        "Ny",
        "Lig",
        "n@x.se",
        "Enhet",
        "vårdbiträde",
        date(2010, 1, 1),
        date(2026, 6, 1),
    )
    plan = store.plan_import([old, recent], ended_before=date(2024, 11, 23))
    assert [e.number for e in plan.added] == ["9002"] and plan.skipped == 1
    assert "1 slutade före gallringstiden" in plan.summary()
    assert store.plan_import([old, recent]).skipped == 0  # without a limit: both
    store.dispose()
