"""Benchmark competence records and their exports against stock ``nbgrader export``, in one run.

Prints figures and ratios; asserts nothing about time.

    .venv/bin/python tests/benchmarks/bench_records.py [--employees 20000] [--modules 10]
        [--stock-subset 250,500] [--runs 5] [--xlsx-runs 3] [--old-xlsx-runs 3]
        [--skip-pg] [--keep]

A synthetic gradebook of ``--employees`` employees x ``--modules`` modules is built, on
SQLite (one file per source, as a project checkout lays them out) and on PostgreSQL (one
fresh database holding all four sources, analysed after loading):

* nbgrader's own gradebook schema (``nbgrader.api.Gradebook``), each module an assignment
  with one notebook of ``--cells`` autograded cells worth 1 point; students, submitted
  assignments, submitted notebooks and one grade per cell are bulk-inserted (COPY on
  PostgreSQL); about 9 in 10 (employee, module) pairs have a submission;
* the grading service's submission log with every attempt (the gradebook holds the latest
  one; its timestamp is the attempt's ``received_at``); a few latest attempts were changed
  by hand in formgrader, so the gradebook's score differs from the log's;
* the learn service's answer table (who started what), the roster through the records
  store's own import, and the module versions (one module has a new version 45 days old,
  required under "gör om", so older passes of it no longer count).

Every employee needs every module (three overlapping courses), so there are employees x
modules records. Then, median of ``--runs`` after one warm-up: ``compute_records`` for
everyone, ``to_csv`` in both dialects, and records + CSV end to end against the target
(5 s in every run, also on a loaded machine: min / median / max of the runs, with the
load average before and after them; figures in docs/developers.md, "Benchmark"). XLSX once, on the first backend's
records, against its target (10 s): ``to_xlsx`` (XlsxWriter in constant-memory mode, the
rows streamed as XML, ``--xlsx-runs``), the same with XlsxWriter writing cell by cell
(``--plain-xlsx-runs``), and the openpyxl write-only path it replaced (copied below as
``openpyxl_xlsx``, ``--old-xlsx-runs``: about a minute each at full size).

The stock tool, ``nbgrader export`` (one CSV row per student and assignment), is far too
slow for the full gradebook: it runs once, as a subprocess, on an empty gradebook (its
start-up) and on separate gradebooks holding only the first N employees
(``--stock-subset``); our records + CSV are measured on the same subsets. The ratio at full
size is extrapolated from those runs and labelled as such.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from omsorgslyft.grading.indexes import ensure_gradebook_indexes  # noqa: E402
from omsorgslyft.grading.submissions import DONE, SubmissionLog, submission  # noqa: E402
from omsorgslyft.learn.store import AnswerStore, answer  # noqa: E402
from omsorgslyft.model import Course, NewVersionRule  # noqa: E402
from omsorgslyft.records.bulk import paused_gc  # noqa: E402
from omsorgslyft.records.compute import compute_records  # noqa: E402
from omsorgslyft.records.export import HEADERS, record_rows, to_csv, to_xlsx  # noqa: E402
from omsorgslyft.records.model import CompetenceRecord, Employee  # noqa: E402
from omsorgslyft.records.store import RecordsStore, Sources  # noqa: E402

BIN = Path(sys.executable).parent
COURSE_ID = "omsorgslyft"
PG_ADMIN = os.environ.get("OMSORGSLYFT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_S = 5.0
XLSX_TARGET_S = 10.0
PASS_MARK = 80
SEED = 2026

CARE_ROLES = ("Undersköterska", "Vårdbiträde", "Sjuksköterska")
ROLES = (*CARE_ROLES, "Enhetschef")
ROLE_WEIGHTS = (55, 25, 15, 5)
UNIT_KINDS = ("Hemtjänst", "Särskilt boende", "Korttidsboende", "Dagverksamhet")
AREAS = (
    "Norr",
    "Söder",
    "Öster",
    "Väster",
    "Centrum",
    "Eken",
    "Linden",
    "Björken",
    "Sjövik",
    "Ängen",
)
UNITS = tuple(f"{kind} {area}" for kind in UNIT_KINDS for area in AREAS)  # 40 units
FIRST = ("Anna", "Maria", "Fatima", "Karin", "Sara", "Emma", "Leila", "Eva", "Johan", "Ali")
FIRST += ("Erik", "Mohammed", "Lars", "Sofia", "Amina", "Ida", "Ahmed", "Lena", "Nils", "Elsa")
LAST = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson")
LAST += ("Persson", "Svensson", "Gustafsson", "Hussein", "Mohamud", "Lindberg", "Åberg")

PASSED, FAILED = '{"passed": true}', '{"passed": false}'  # the result shown to the learner

T = TypeVar("T")


def num(n: float) -> str:
    """A count with a space between thousands, as Swedish readers expect."""
    return f"{n:,.0f}".replace(",", " ")


# -- the synthetic organisation ------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """Modules, courses and dates shared by every gradebook built in one run."""

    modules: tuple[str, ...]
    cells: int
    today: date
    now: datetime  # a moment of ``today`` (UTC); every attempt is earlier
    new_version_module: str  # has version 2, released 45 days ago
    courses: tuple[Course, ...]

    @property
    def released_v2(self) -> datetime:
        return self.now - timedelta(days=45)

    @property
    def pass_marks(self) -> dict[str, int]:
        return dict.fromkeys(self.modules, PASS_MARK)

    def title(self, module: str) -> str:
        return f"Modul {module.removeprefix('m')}"


def make_setup(n_modules: int, cells: int) -> Setup:
    modules = tuple(f"m{i:02d}" for i in range(1, n_modules + 1))
    basic = modules[: max(1, round(0.6 * n_modules))]
    care = modules[int(0.4 * n_modules) :]
    lead = modules[round(0.6 * n_modules) :] or modules[-1:]

    def course(
        cid: str, mods: tuple[str, ...], roles: tuple[str, ...], due: int, months: int, rule: str
    ) -> Course:
        return Course(
            id=cid,
            title=cid.capitalize(),
            description="Syntetisk kurs för prestandamätning.",
            modules=mods,
            roles=roles,
            units=(),
            due_days=due,
            validity_months=months,
            new_version=NewVersionRule(rule),
        )

    today = date.today()
    return Setup(
        modules=modules,
        cells=cells,
        today=today,
        now=datetime(today.year, today.month, today.day, 6, tzinfo=UTC),
        new_version_module=modules[min(len(modules) - 1, (3 * len(modules)) // 4)],
        courses=(
            course("grund", basic, (), 90, 36, "behåll"),  # every role, every unit
            course("omvardnad", care, CARE_ROLES, 180, 12, "gör om"),
            course("ledarskap", lead, ("Enhetschef",), 60, 24, "behåll"),
        ),
    )


def make_employee(i: int, today: date) -> Employee:
    rng = random.Random(SEED * 7919 + i)
    days = rng.randint(1, 60) if rng.random() < 0.04 else rng.randint(61, 3650)
    return Employee(
        number=f"{100000 + i}",
        username=f"u{i:05d}",
        first_name=rng.choice(FIRST),
        last_name=rng.choice(LAST),
        email=f"u{i:05d}@kommun.example",
        unit=rng.choice(UNITS),
        role=rng.choices(ROLES, ROLE_WEIGHTS)[0],
        start=today - timedelta(days=days),
    )


@dataclass
class Attempt:
    received_at: datetime
    version: int
    score: int  # autograded points (what the submission log holds)


@dataclass
class History:
    """One employee's dealings with one module."""

    attempts: list[Attempt] = field(default_factory=list)  # oldest first
    started: int | None = None  # version with saved answers but no submission
    manual_bump: bool = False  # a teacher raised one cell of the latest attempt by hand


def histories(i: int, e: Employee, s: Setup) -> dict[str, History]:
    rng = random.Random(SEED * 104729 + i)
    employed_days = (s.today - e.start).days
    out: dict[str, History] = {}
    for m in s.modules:
        h = History()
        out[m] = h
        roll = rng.random()
        if roll < 0.06:
            continue  # not started
        if roll < 0.10:
            h.started = 2 if m == s.new_version_module and rng.random() < 0.5 else 1
            continue
        # the latest attempt, then any failed ones before it
        ago = rng.uniform(0.2, max(0.3, min(1100.0, employed_days - 0.5)))
        n = rng.choices((1, 2, 3), (75, 20, 5))[0]
        passing = rng.random() < 0.85
        when = s.now - timedelta(days=ago, seconds=rng.randint(0, 3600))
        for k in range(n):
            last = k == 0
            if last and passing:
                score = rng.randint(-(-PASS_MARK * s.cells // 100), s.cells)
            else:
                score = rng.randint(0, max(0, -(-PASS_MARK * s.cells // 100) - 1))
            version = 2 if m == s.new_version_module and when >= s.released_v2 else 1
            h.attempts.insert(0, Attempt(when, version, score))
            when -= timedelta(days=rng.uniform(0.01, 20))
        h.manual_bump = h.attempts[-1].score < s.cells and rng.random() < 0.02
    return out


# -- bulk loading ----------------------------------------------------------------------------
class Loader:
    """Buffers rows per table and writes them in bulk: COPY on PostgreSQL, Core executemany
    on SQLite. Tables are flushed in the order given (parents before children)."""

    def __init__(self, engine: Engine, tables: Sequence[Table], chunk: int = 100_000) -> None:
        self.engine = engine
        self.tables = {t.name: t for t in tables}
        self.columns = {t.name: [c.name for c in t.columns] for t in tables}
        self.buffers: dict[str, list[tuple[Any, ...]]] = {t.name: [] for t in tables}
        self.chunk = chunk
        self.pending = 0
        self.written: Counter[str] = Counter()

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """``row`` holds every column of ``table``, in the table's order."""
        self.buffers[table].append(row)
        self.pending += 1
        if self.pending >= self.chunk:
            self.flush()

    def flush(self) -> None:
        for name, rows in self.buffers.items():
            if rows:
                self._write(name, rows)
                self.written[name] += len(rows)
                rows.clear()
        self.pending = 0

    def _write(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        cols = self.columns[name]
        if self.engine.dialect.name == "postgresql":
            raw = self.engine.raw_connection()
            try:
                pg = raw.driver_connection
                assert pg is not None
                quoted = ", ".join(f'"{c}"' for c in cols)
                with pg.cursor() as cur, cur.copy(f'COPY "{name}" ({quoted}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()
            finally:
                raw.close()
        else:
            with self.engine.begin() as conn:
                conn.execute(
                    self.tables[name].insert(), [dict(zip(cols, r, strict=True)) for r in rows]
                )


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Urls:
    records: str
    submissions: str
    gradebook: str
    answers: str


@dataclass
class Built:
    """A populated set of sources, and what was put in (to check it against)."""

    urls: Urls
    store: RecordsStore
    engines: list[Engine]
    rows: Counter[str]
    employees: int
    roster_s: float
    load_s: float
    samples: list[tuple[str, str, float, float]]  # (student, module, gradebook points, log points)

    def close(self) -> None:
        self.store.dispose()
        for engine in self.engines:
            engine.dispose()


def make_gradebook(
    url: str, s: Setup
) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """nbgrader's schema and the assignments through its own API; returns the ids of the
    assignments, their notebooks and their grade cells (by module)."""
    from nbgrader.api import Gradebook

    # first in its database: Gradebook() stamps the alembic version only on an empty one
    with Gradebook(url, course_id=COURSE_ID) as gb:
        for m in s.modules:
            gb.add_assignment(m)
            gb.update_or_create_notebook(m, m)
            for j in range(1, s.cells + 1):
                gb.update_or_create_grade_cell(
                    f"test-q{j:02d}", m, m, max_score=1.0, cell_type="code"
                )
        assignment_id = {m: gb.find_assignment(m).id for m in s.modules}
        notebook_id = {m: gb.find_notebook(m, m).id for m in s.modules}
        cell_ids = {
            m: [c.id for c in sorted(gb.find_notebook(m, m).grade_cells, key=lambda c: c.name)]
            for m in s.modules
        }
    return assignment_id, notebook_id, cell_ids


def build(urls: Urls, n: int, s: Setup) -> Built:
    """Create and fill every source for the first ``n`` employees."""
    from nbgrader.api import Base

    started = time.perf_counter()
    assignment_id, notebook_id, cell_ids = make_gradebook(urls.gradebook, s)
    log = SubmissionLog(urls.submissions)
    learn = AnswerStore(urls.answers)
    gb_engine = create_engine(urls.gradebook)
    nb = Base.metadata.tables
    gb_load = Loader(
        gb_engine,
        [nb["student"], nb["submitted_assignment"], nb["submitted_notebook"], nb["grade"]],
    )
    log_load = Loader(log.engine, [submission])
    learn_load = Loader(learn.engine, [answer])

    employees = [make_employee(i, s.today) for i in range(n)]
    samples: list[tuple[str, str, float, float]] = []
    for i, e in enumerate(employees):
        gb_load.add("student", (e.username, e.first_name, e.last_name, e.email, None))
        for m, h in histories(i, e, s).items():
            if h.started is not None:
                for k in range(1, 3):
                    learn_load.add(
                        "answer",
                        (e.username, m, h.started, "svar", f"q{k:02d}", '"a"', s.now),
                    )
            for a in h.attempts:
                graded = a.received_at + timedelta(seconds=7)
                log_load.add(
                    "submission",
                    (
                        new_id(),
                        e.username,
                        m,
                        a.version,
                        m,  # the variant: each module its own assignment (as before pools)
                        "{}",
                        DONE,
                        float(a.score),
                        float(s.cells),
                        PASSED if a.score * 100 >= PASS_MARK * s.cells else FAILED,
                        a.received_at,
                        graded,
                    ),
                )
            if not h.attempts:
                continue
            latest = h.attempts[-1]
            for k in range(1, 4):
                learn_load.add(
                    "answer", (e.username, m, latest.version, "svar", f"q{k:02d}", '"a"', s.now)
                )
            sub_id, nb_id = new_id(), new_id()
            stamp = latest.received_at.astimezone(UTC).replace(
                tzinfo=None
            )  # naive UTC, as nbgrader
            gb_load.add("submitted_assignment", (sub_id, assignment_id[m], e.username, stamp, None))
            gb_load.add("submitted_notebook", (nb_id, sub_id, notebook_id[m], False, 0.0))
            offset = i % s.cells
            for j, cell in enumerate(cell_ids[m]):
                auto = 1.0 if (j + offset) % s.cells < latest.score else 0.0
                manual = (
                    1.0
                    if h.manual_bump and auto == 0.0 and (j + offset) % s.cells == latest.score
                    else None
                )
                gb_load.add("grade", (new_id(), nb_id, cell, auto, manual, None, False))
            by_hand = sum(1 for _, _, g, lg in samples if g != lg)
            if (h.manual_bump and by_hand < 3) or (i % 997 == 5 and len(samples) - by_hand < 3):
                samples.append((e.username, m, latest.score + h.manual_bump, latest.score))
    for loader in (gb_load, log_load, learn_load):
        loader.flush()
    # the grading service makes its index on the gradebook when it starts
    ensure_gradebook_indexes(urls.gradebook)
    if gb_engine.dialect.name == "postgresql":
        with gb_engine.begin() as conn:  # what autovacuum would have done by the first export
            conn.execute(text("ANALYZE"))
    load_s = time.perf_counter() - started

    store = RecordsStore(urls.records, Sources(urls.submissions, urls.gradebook, urls.answers))
    started = time.perf_counter()
    plan = store.plan_import(employees)
    store.apply_import(plan, "bench.csv", by="bench")
    roster_s = time.perf_counter() - started
    store.note_versions(((m, s.title(m), 1) for m in s.modules), s.today - timedelta(days=365 * 4))
    store.note_versions(
        [(s.new_version_module, s.title(s.new_version_module), 2)], s.released_v2.date()
    )
    rows = gb_load.written + log_load.written + learn_load.written
    return Built(
        urls, store, [gb_engine, log.engine, learn.engine], rows, n, roster_s, load_s, samples
    )


def check(built: Built, s: Setup) -> list[CompetenceRecord]:
    """The gradebook reads back as inserted, through nbgrader's API and through the records."""
    from nbgrader.api import Gradebook

    records = compute_records(built.store, s.courses, s.pass_marks, s.today)
    expected = built.employees * len(s.modules)  # every role needs every module (see make_setup)
    assert len(records) == expected, (len(records), expected)
    by_key = {(r.employee.username, r.module): r for r in records}
    with Gradebook(built.urls.gradebook, course_id=COURSE_ID) as gb:
        for student, module, gb_points, log_points in built.samples:
            got = gb.find_submission(module, student).score
            assert abs(got - gb_points) < 1e-9, (student, module, got, gb_points)
            record = by_key[(student, module)]
            want = round(100.0 * gb_points / s.cells, 1)
            assert record.latest_score == want, (student, module, record, log_points)
    assert any(g != lg for _, _, g, lg in built.samples), "no hand-graded sample"
    return records


# -- the XLSX path before XlsxWriter (openpyxl write-only), for the comparison --------------
def openpyxl_xlsx(records: Sequence[CompetenceRecord], title: str = "Kompetensregister") -> bytes:
    """What ``export.to_xlsx`` did until XlsxWriter: openpyxl's write-only workbook."""
    import io

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    with paused_gc():
        book = Workbook(write_only=True)
        sheet = book.create_sheet(title[:31])
        for i, name in enumerate(HEADERS, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = max(len(name) + 2, 12)
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for name in HEADERS:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in record_rows(records):
            sheet.append(row)
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{len(records) + 1}"
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()


def xlsxwriter_cell_by_cell(records: Sequence[CompetenceRecord]) -> bytes:
    """``to_xlsx`` with XlsxWriter writing every cell itself (its own path)."""
    from omsorgslyft.records import export

    export._RowStream.fast = False
    try:
        return to_xlsx(records)
    finally:
        export._RowStream.fast = True


# -- measuring -----------------------------------------------------------------------------
def runs_of(fn: Callable[[], object], runs: int) -> list[float]:
    """Seconds of each of ``runs`` calls."""
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def spread(times: Sequence[float]) -> str:
    """min / median / max."""
    if not times:
        return "-"
    return f"{min(times):.2f} / {statistics.median(times):.2f} / {max(times):.2f}"


def timed(fn: Callable[[], T], runs: int, warm_up: bool = True) -> tuple[float, T]:
    """Median seconds of ``runs`` calls (after one warm-up call), and the last result."""
    result = fn() if warm_up else None
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), result


@dataclass
class Figures:
    backend: str
    employees: int
    records: int
    build: float
    csv_sv: float
    csv_utf8: float
    end_to_end: float  # records + CSV (excel-sv), one call after the other: the median
    parts: dict[str, float] = field(default_factory=dict)
    end_to_end_runs: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # the load average around the runs


def measure(
    built: Built, s: Setup, backend: str, runs: int
) -> tuple[Figures, list[CompetenceRecord]]:
    store = built.store

    def records() -> list[CompetenceRecord]:
        return compute_records(store, s.courses, s.pass_marks, s.today)

    build_s, recs = timed(records, runs)
    n_records = len(recs)
    csv_sv, data = timed(lambda: to_csv(recs, "excel-sv"), runs)
    assert data.count(b"\r\n") == len(recs) + 1
    csv_utf8, _ = timed(lambda: to_csv(recs, "utf8"), runs)
    load = [os.getloadavg()[0]]
    to_csv(records(), "excel-sv")  # warm-up
    end_to_end_runs = runs_of(lambda: to_csv(records(), "excel-sv"), runs)
    load.append(os.getloadavg()[0])
    gc.collect()
    gc.disable()  # as inside compute_records
    try:
        parts = {
            "roster": timed(store.employees, runs)[0],
            "attempts() (log + gradebook)": timed(lambda: store.attempts(s.pass_marks), runs)[0],
            "of which gradebook_scores()": timed(store.gradebook_scores, runs)[0],
            # everyone's saved answers; compute_records reads only the records' that need them
            "started() (all)": timed(store.started, runs)[0],
        }
    finally:
        gc.enable()
    end_to_end = statistics.median(end_to_end_runs)
    print(
        f"  {backend}: records {build_s:.2f} s, CSV {csv_sv:.2f} / {csv_utf8:.2f} s, "
        f"records + CSV {spread(end_to_end_runs)} s (min / median / max of {len(end_to_end_runs)}; "
        f"load average {load[0]:.1f} .. {load[1]:.1f})",
        flush=True,
    )
    figures = Figures(
        backend,
        built.employees,
        n_records,
        build_s,
        csv_sv,
        csv_utf8,
        end_to_end,
        parts,
        end_to_end_runs,
        load,
    )
    return figures, recs


@dataclass
class Xlsx:
    """XLSX of the same records three ways: seconds of each run, and the load around them."""

    records: int
    ours: list[float] = field(default_factory=list)  # to_xlsx: XlsxWriter, rows as XML
    plain: list[float] = field(default_factory=list)  # XlsxWriter cell by cell
    old: list[float] = field(default_factory=list)  # openpyxl write-only (before)
    load: list[float] = field(default_factory=list)


def measure_xlsx(recs: list[CompetenceRecord], runs: int, plain_runs: int, old_runs: int) -> Xlsx:
    out = Xlsx(len(recs), load=[os.getloadavg()[0]])
    to_xlsx(recs[:1000])  # warm-up: imports, caches
    openpyxl_xlsx(recs[:1000])
    out.ours = runs_of(lambda: to_xlsx(recs), runs)
    print(f"  XLSX (XlsxWriter, rows as XML): {spread(out.ours)} s", flush=True)
    if plain_runs:
        out.plain = runs_of(lambda: xlsxwriter_cell_by_cell(recs), plain_runs)
        print(f"  XLSX (XlsxWriter cell by cell): {spread(out.plain)} s", flush=True)
    if old_runs:
        out.old = runs_of(lambda: openpyxl_xlsx(recs), old_runs)
        print(f"  XLSX (openpyxl write-only, before): {spread(out.old)} s", flush=True)
    out.load.append(os.getloadavg()[0])
    return out


def measure_ours(built: Built, s: Setup, runs: int) -> float:
    """Median seconds of records + CSV (excel-sv), end to end."""
    return timed(
        lambda: to_csv(compute_records(built.store, s.courses, s.pass_marks, s.today), "excel-sv"),
        runs,
    )[0]


def nbgrader_export(db_url: str, workdir: Path, expected_rows: int) -> float:
    """Seconds for one ``nbgrader export`` to CSV (a new process, as from a terminal)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "grades.csv"
    start = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "nbgrader"),
            "export",
            f"--CourseDirectory.root={workdir}",
            f"--CourseDirectory.db_url={db_url}",
            f"--CourseDirectory.course_id={COURSE_ID}",
            f"--CsvExportPlugin.to={out}",
        ],
        cwd=workdir,  # no nbgrader_config.py here
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    lines = out.read_text(encoding="utf-8").count("\n")  # one row per student and assignment
    assert lines == expected_rows + 1, (lines, expected_rows)
    return elapsed


@dataclass
class Stock:
    """``nbgrader export`` on subsets of the gradebook, and our records + CSV on the same."""

    backend: str
    startup: float  # nbgrader export of a gradebook with no students
    subsets: list[tuple[int, float, float]] = field(default_factory=list)  # (n, theirs, ours)


def stock(
    backend: str, make: Callable[[str], Urls], tmp: Path, s: Setup, sizes: list[int], runs: int
) -> Stock:
    empty = make("empty")
    make_gradebook(empty.gradebook, s)
    out = Stock(backend, nbgrader_export(empty.gradebook, tmp / f"stock-{backend}-0", 0))
    print(f"  {backend}: nbgrader export of an empty gradebook {out.startup:.2f} s", flush=True)
    for n in sizes:
        built = build(make(f"n{n}"), n, s)
        try:
            check(built, s)
            ours = measure_ours(built, s, runs)
            theirs = nbgrader_export(
                built.urls.gradebook, tmp / f"stock-{backend}-{n}", n * len(s.modules)
            )
        finally:
            built.close()
        out.subsets.append((n, theirs, ours))
        print(
            f"  {backend}, first {num(n)} employees: nbgrader export {theirs:.2f} s, "
            f"our records + CSV {ours:.3f} s",
            flush=True,
        )
    return out


# -- databases -----------------------------------------------------------------------------
class Databases:
    """Temporary SQLite folders and PostgreSQL databases, removed at the end unless kept."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="omsorgslyft-bench-records-"))
        self.pg: list[str] = []

    def sqlite(self, name: str) -> Urls:
        folder = self.tmp / name
        folder.mkdir(parents=True)
        return Urls(
            records=f"sqlite:///{folder / 'records.db'}",
            submissions=f"sqlite:///{folder / 'submissions.db'}",
            gradebook=f"sqlite:///{folder / 'gradebook.db'}",
            answers=f"sqlite:///{folder / 'learn.db'}",
        )

    def postgres(self, name: str) -> Urls:
        import psycopg

        db = f"omsorgslyft_bench_{uuid.uuid4().hex[:8]}_{name}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        self.pg.append(db)
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{base}/{db}"
        return Urls(url, url, url, url)

    def cleanup(self) -> None:
        if self.keep:
            print(f"kept: {self.tmp}" + "".join(f"\nkept: database {d}" for d in self.pg))
            return
        if self.pg:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                for db in self.pg:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- report --------------------------------------------------------------------------------
def describe(built: Built, records: list[CompetenceRecord], label: str) -> None:
    r = built.rows
    print(
        f"{label}: {num(built.employees)} employees; gradebook {num(r['student'])} students, "
        f"{num(r['submitted_assignment'])} submitted assignments, {num(r['grade'])} grades; "
        f"submission log {num(r['submission'])} attempts; learn store {num(r['answer'])} answers; "
        f"loaded in {built.load_s:.0f} s; roster import (plan + apply) {built.roster_s:.2f} s",
        flush=True,
    )
    counts = Counter(rec.status.value for rec in records)
    print("  statuses: " + ", ".join(f"{k} {num(v)}" for k, v in counts.most_common()))


def report(figures: list[Figures], xlsx: Xlsx | None, stocks: list[Stock], full: int) -> None:
    print()
    head = (
        f"{'backend':<10} {'employees':>9} {'records':>8} {'build s':>8} {'CSV sv s':>8} "
        f"{'CSV utf8 s':>10} {'rec+CSV s min / median / max':>28} {'< 5 s every run':>15} "
        f"{'load':>9}"
    )
    print(head)
    print("-" * len(head))
    for f in figures:
        print(
            f"{f.backend:<10} {num(f.employees):>9} {num(f.records):>8} {f.build:>8.2f} "
            f"{f.csv_sv:>8.2f} {f.csv_utf8:>10.2f} {spread(f.end_to_end_runs):>28} "
            f"{'yes' if max(f.end_to_end_runs) < TARGET_S else 'NO':>15} "
            f"{f.load[0]:>4.1f}-{f.load[-1]:<4.1f}"
        )
    print(
        "(records + CSV: each run one call after the other, after a warm-up; the other "
        "columns: medians; load: the 1-minute load average before and after the runs)"
    )
    print("(each read below is timed on its own, outside compute_records)")
    for f in figures:
        print(
            f"{f.backend}: rows/s: records {num(f.records / f.build)}, "
            f"CSV sv {num(f.records / f.csv_sv)}, CSV utf8 {num(f.records / f.csv_utf8)}, "
            f"records + CSV {num(f.records / f.end_to_end)}"
        )
        print("  reads, each alone: " + ", ".join(f"{k} {v:.2f} s" for k, v in f.parts.items()))
    if xlsx is not None and xlsx.ours:
        print()
        print(
            f"XLSX of {num(xlsx.records)} records (min / median / max; target {XLSX_TARGET_S:.0f} s "
            f"in every run; load {xlsx.load[0]:.1f}-{xlsx.load[-1]:.1f})"
        )
        ours = statistics.median(xlsx.ours)
        rows = [
            ("XlsxWriter, rows as XML (to_xlsx)", xlsx.ours),
            ("XlsxWriter, cell by cell", xlsx.plain),
            ("openpyxl write-only (before)", xlsx.old),
        ]
        for label, times in rows:
            if not times:
                continue
            median = statistics.median(times)
            print(
                f"  {label:<36} {spread(times):>22} s  {num(xlsx.records / median):>7} rows/s  "
                f"{median / ours:>5.1f}x ours"
                + ("  (every run within target)" if max(times) <= XLSX_TARGET_S else "")
            )
    if not stocks:
        return
    print()
    print(
        "nbgrader export (stock; one run each, a new process, start-up included) "
        "vs our records + CSV (excel-sv, in process) on the same gradebook"
    )
    head = (
        f"{'backend':<10} {'employees':>9} {'nbgrader s':>10} {'ours s':>7} {'ratio':>7} "
        f"{'nbgrader ms/employee':>20}"
    )
    print(head)
    print("-" * len(head))
    ours_full = {f.backend: f.end_to_end for f in figures}
    for st in stocks:
        print(f"{st.backend:<10} {0:>9} {st.startup:>10.2f} {'':>7} {'':>7} {'(start-up)':>20}")
        for n, theirs, ours in st.subsets:
            per = 1000 * (theirs - st.startup) / n
            print(
                f"{st.backend:<10} {num(n):>9} {theirs:>10.2f} {ours:>7.3f} "
                f"{theirs / ours:>6.0f}x {per:>20.2f}"
            )
    print()
    print(
        f"EXTRAPOLATED to {num(full)} employees (not measured; ours is measured at full size):\n"
        "  linear = start-up + nbgrader's ms/employee at the largest subset x employees (a lower\n"
        "  bound: its ms/employee grows with the gradebook); fit = start-up + a*n + b*n^2\n"
        "  through the two largest subsets"
    )
    for st in stocks:
        if not st.subsets or st.backend not in ours_full:
            continue
        ours = ours_full[st.backend]
        n, theirs, _ = st.subsets[-1]
        estimates = [("linear", st.startup + (theirs - st.startup) / n * full)]
        if len(st.subsets) >= 2:
            n1, t1, _ = st.subsets[-2]
            y1, y2 = (t1 - st.startup) / n1, (theirs - st.startup) / n
            b = max(0.0, (y2 - y1) / (n - n1))
            a = y2 - b * n
            estimates.append(("fit", st.startup + a * full + b * full * full))
        for label, seconds in estimates:
            span = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
            print(
                f"  {st.backend}, {label}: nbgrader export ~{num(seconds)} s (~{span}) "
                f"vs records + CSV {ours:.2f} s: ~{num(seconds / ours)}x (target: at least 50x)"
            )


def revision() -> str:
    """The commit measured (and whether the work tree differs from it)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--cells", type=int, default=10, help="autograded cells per module")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument(
        "--xlsx-runs", type=int, default=3, help="timed runs of to_xlsx; 0 skips XLSX"
    )
    parser.add_argument(
        "--plain-xlsx-runs",
        type=int,
        default=1,
        help="timed runs of XlsxWriter writing cell by cell (slow at full size)",
    )
    parser.add_argument(
        "--old-xlsx-runs",
        type=int,
        default=3,
        help="timed runs of the openpyxl path before XlsxWriter (about a minute each)",
    )
    parser.add_argument(
        "--stock-subset",
        default="250,500",
        help="sizes (first N employees) of the gradebooks nbgrader export runs on; 0 skips it",
    )
    parser.add_argument("--skip-pg", action="store_true", help="SQLite only")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary files and databases"
    )
    args = parser.parse_args()
    if args.modules < 3:
        parser.error("--modules must be at least 3 (three courses share them)")
    sizes = sorted({n for n in (int(x) for x in args.stock_subset.split(",")) if n > 0})
    sizes = [min(n, args.employees) for n in sizes]

    # nbgrader's Gradebook() runs ``alembic`` from PATH
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    s = make_setup(args.modules, args.cells)
    print(
        f"code: {revision()}; machine: {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}; "
        f"{num(args.employees)} employees x {args.modules} modules x {args.cells} cells, "
        f"pass mark {PASS_MARK} %, today {s.today}; {args.runs} runs after a warm-up",
        flush=True,
    )
    # a SIGTERM unwinds like Ctrl-C, so the finally below still drops what was created
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    dbs = Databases(args.keep)
    figures: list[Figures] = []
    stocks: list[Stock] = []
    xlsx: Xlsx | None = None
    try:
        for backend in ("sqlite",) if args.skip_pg else ("sqlite", "postgresql"):
            make = dbs.sqlite if backend == "sqlite" else dbs.postgres
            built = build(make("full"), args.employees, s)
            try:
                records = check(built, s)
                describe(built, records, backend)
                del records
                found, recs = measure(built, s, backend, args.runs)
                figures.append(found)
                if xlsx is None and args.xlsx_runs:  # the same records on every backend
                    xlsx = measure_xlsx(
                        recs, args.xlsx_runs, args.plain_xlsx_runs, args.old_xlsx_runs
                    )
                del recs
            finally:
                built.close()
            if sizes:
                stocks.append(stock(backend, make, dbs.tmp, s, sizes, args.runs))
        report(figures, xlsx, stocks, args.employees)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        dbs.cleanup()


if __name__ == "__main__":
    main()
