"""Large exports as background jobs (records/export_jobs.py): the real records app, store
and templates in process; only the hub's answer to "who is this?" is stood in for
(as in tests/test_records_managers.py). The form token is checked as in production.
"""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_standin import BIRCH, NORTH, Hub, person
from openpyxl import load_workbook
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application

from omsorgslyft.hub.roles import HR_SCOPE, manager_scope
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.export import HEADERS
from omsorgslyft.records.export_jobs import DONE, ExportJobs
from omsorgslyft.records.handlers import Access, Records
from omsorgslyft.records.service import make_app

PREFIX = "/services/records/"
COURSES = (Course("grund", "Grund", "", ("kasam", "hbtqi"), (), (), 90, 36, NewVersionRule.KEEP),)


def make_records(folder: Path, extra: int = 0) -> Records:
    """Two units with a manager each, every one needing two modules; ``extra`` more people
    in Hemtjänst Norr."""
    config = RecordsConfig(
        modules_dir=folder / "modules",
        courses_dir=folder / "courses",
        records_url=f"sqlite:///{folder / 'records.db'}",
        submissions_url=f"sqlite:///{folder / 'submissions.db'}",
        courses=COURSES,
    )
    records = Records(config)
    staff = [
        person("1", "anna", NORTH),
        person("2", "cecilia", BIRCH),
        person("3", "gunilla", NORTH, manages=(NORTH,)),
        person("4", "tomas", BIRCH, manages=(BIRCH,)),
        *(person(str(100 + i), f"p{i:05d}", NORTH) for i in range(extra)),
    ]
    records.store.apply_import(records.store.plan_import(staff), "p.csv", "test")
    records.store.note_versions(
        [("kasam", "Salutogenes och KASAM", 1), ("hbtqi", "Hbtqi", 1)], date(2024, 1, 1)
    )
    Hub.people = {
        "gunilla": [manager_scope(NORTH)],
        "tomas": [manager_scope(BIRCH)],
        "hanna": [HR_SCOPE],
        "harald": [HR_SCOPE],
    }
    return records


@dataclass
class Server:
    """The records app on its own thread and event loop, for clients on this one."""

    url: str
    app: Application
    loop: asyncio.AbstractEventLoop

    @property
    def jobs(self) -> ExportJobs:
        jobs: ExportJobs = self.app.settings["export_jobs"]
        return jobs

    @contextmanager
    def client(self, who: str) -> Iterator[httpx.Client]:
        """A browser of ``who``'s, with the form token of the overview's export form."""
        with httpx.Client(
            base_url=self.url, headers={"X-Test-User": who}, follow_redirects=False, timeout=30
        ) as client:
            page = client.get("")
            found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
            if found:
                client.headers["X-Test-Token"] = found.group(1)
            yield client


def serve(records: Records) -> Iterator[Server]:
    auth = Hub(
        api_token="t" * 32,
        api_url="http://127.0.0.1:9/hub/api",
        oauth_client_id="service-records",
        base_url=PREFIX,
        hub_prefix="/hub/",
    )
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        sock, port = bind_unused_port()
        app = make_app(records, PREFIX, auth, "/hub/")
        app.settings["export_jobs"].direct_rows = 0  # every export from the page is a job
        server = HTTPServer(app)
        server.add_sockets([sock])
        box.update(loop=loop, app=app, server=server, port=port)
        ready.set()
        loop.run_forever()
        server.stop()
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield Server(f"http://127.0.0.1:{box['port']}{PREFIX}", box["app"], box["loop"])
    finally:
        box["app"].settings["export_jobs"].shutdown()
        box["loop"].call_soon_threadsafe(box["loop"].stop)
        thread.join(10)


@pytest.fixture
def records(tmp_path: Path) -> Iterator[Records]:
    records = make_records(tmp_path)
    yield records
    records.store.dispose()


@pytest.fixture
def server(records: Records) -> Iterator[Server]:
    yield from serve(records)


def start(client: httpx.Client, fmt: str = "xlsx", **filters: str) -> str:
    """POST export as the page's form does; the job's page address."""
    token = client.headers["X-Test-Token"]
    reply = client.post("export", data={"_xsrf": token, "format": fmt, **filters})
    assert reply.status_code == 303, reply.text
    location = reply.headers["Location"]
    assert re.fullmatch(rf"{PREFIX}export/[A-Za-z0-9_-]{{20,40}}", location), location
    return location.removeprefix(PREFIX)


def wait(client: httpx.Client, page: str) -> list[dict[str, Any]]:
    """Every status the page's script would see, until the job is over."""
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = client.get(f"api/{page}")
        assert reply.status_code == 200, reply.text
        assert reply.headers["Cache-Control"] == "no-store"
        status = reply.json()
        seen.append(status)
        if status["state"] in ("done", "failed", "cancelled"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the export did not finish: {seen[-1]}")


def rows_of(data: bytes) -> list[dict[str, Any]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(HEADERS)
    return [dict(zip(HEADERS, row, strict=True)) for row in values[1:]]


def test_a_managers_export_holds_only_her_unit(server: Server) -> None:
    with server.client("gunilla") as gunilla:
        page = start(gunilla)  # no filter: everything she may see
        statuses = wait(gunilla, page)
        assert statuses[-1]["state"] == "done", statuses[-1]
        assert statuses[-1]["total"] == 4  # anna and gunilla, two modules each
        reply = gunilla.get(f"{page}/fil")
        assert reply.status_code == 200
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.headers["Content-Disposition"].startswith(
            'attachment; filename="kompetensregister-'
        )
        rows = rows_of(reply.content)
        assert {r["Enhet"] for r in rows} == {NORTH}
        assert {r["Förnamn"] for r in rows} == {"Anna", "Gunilla"}
        # a filter for another unit is no way around it
        page = start(gunilla, enhet=BIRCH)
        assert wait(gunilla, page)[-1]["total"] == 0
        assert rows_of(gunilla.get(f"{page}/fil").content) == []
    with server.client("hanna") as hanna:  # HR: every unit, and the filter applies
        page = start(hanna, "csv", enhet=BIRCH)
        assert wait(hanna, page)[-1]["state"] == "done"
        text = hanna.get(f"{page}/fil").content.decode("utf-8-sig")
        assert text.count("\r\n") == 1 + 4 and NORTH not in text and BIRCH in text


def test_nobody_else_reads_a_jobs_status_or_file(server: Server) -> None:
    with server.client("hanna") as hanna:
        page = start(hanna)
        assert wait(hanna, page)[-1]["state"] == "done"
        assert hanna.get(f"{page}/fil").status_code == 200
        assert hanna.get(f"{page}/fil").status_code == 200  # hers until she starts another
    for who in ("harald", "tomas"):  # HR too: a job is its owner's
        with server.client(who) as other:
            for path in (page, f"api/{page}", f"{page}/fil"):
                reply = other.get(path)
                assert reply.status_code == 404, (who, path)
                assert b"Efternamn" not in reply.content
    with httpx.Client(base_url=server.url, follow_redirects=False) as nobody:
        reply = nobody.get(f"{page}/fil")
        assert reply.status_code == 302 and "Efternamn" not in reply.text  # to the login
    with server.client("hanna") as hanna:
        # an unknown id, and a form without its token
        assert hanna.get("export/" + "x" * 32).status_code == 404
        assert hanna.post("export", data={"format": "xlsx"}).status_code == 403
        # a new export replaces the old: its address is gone
        newer = start(hanna, "csv-utf8")
        assert hanna.get(f"api/{page}").status_code == 404
        assert wait(hanna, newer)[-1]["state"] == "done"


def test_a_manager_who_loses_the_unit_loses_the_file(server: Server, records: Records) -> None:
    with server.client("gunilla") as gunilla:
        page = start(gunilla)
        assert wait(gunilla, page)[-1]["state"] == "done"
        store = records.store
        staff = [e for e in store.employees() if e.username != "gunilla"]
        staff.append(person("3", "gunilla", NORTH))  # no longer "chef för enhet"
        store.apply_import(store.plan_import(staff), "p2.csv", "test")
        assert gunilla.get(f"{page}/fil").status_code == 403  # no register at all now


def test_progress_goes_from_zero_to_total(tmp_path: Path) -> None:
    records = make_records(tmp_path, extra=1_600)
    try:
        for server in serve(records):
            with server.client("hanna") as hanna:
                page = start(hanna, enhet=NORTH)
                statuses = wait(hanna, page)
                job = server.jobs.get("hanna", page.rsplit("/", 1)[1])
                assert job is not None and job.state == DONE
        total = 2 * (1_600 + 2)
        # what the writer reported: 0 first, then about every hundredth, total last
        assert job.seen[0] == (0, total) and job.seen[-1] == (total, total)
        assert [d for d, _ in job.seen] == sorted(d for d, _ in job.seen)
        assert len(job.seen) >= 4 and {t for _, t in job.seen} == {total}
        # what the page saw: never backwards, and all of it at the end
        done = [s["done"] for s in statuses if s["state"] in ("writing", "done")]
        assert done == sorted(done) and done[-1] == total
        assert statuses[-1]["text"] == "Klart: 3\u00a0204 rader. Filen är redo att laddas ner."
        assert len(rows_of(job.data or b"")) == total
    finally:
        records.store.dispose()


def test_a_job_reports_every_step(records: Records) -> None:
    """The job itself, without the app: a slow writer is cancelled by a newer export."""
    jobs = ExportJobs()
    try:
        everything = records.all()
        hr = Access(hr=True)
        first = jobs.start("hanna", "csv", hr, {}, "2026-06-15", lambda: everything, list)
        deadline = time.monotonic() + 30
        while not first.over and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.state == DONE and first.seen == [(0, 8), (8, 8)]
        assert first.status()["text"] == "Klart: 8 rader. Filen är redo att laddas ner."
        with pytest.raises(ValueError):
            jobs.start("hanna", "pdf", hr, {}, "2026-06-15", lambda: everything, list)
        second = jobs.start("hanna", "xlsx", hr, {}, "2026-06-15", lambda: everything, list)
        assert jobs.get("hanna", first.id) is None and jobs.get("hanna", second.id) is second
        assert jobs.get("tomas", second.id) is None
    finally:
        jobs.shutdown()


def test_the_page_offers_a_job_only_for_a_large_selection(server: Server) -> None:
    with server.client("hanna") as hanna:
        server.jobs.direct_rows = ExportJobs().direct_rows
        page = hanna.get("").text
        assert 'href="/services/records/export.xlsx"' in page
        assert 'action="/services/records/export"' not in page
        assert "script-src" not in hanna.get("").headers["Content-Security-Policy"]
        server.jobs.direct_rows = 3
        page = hanna.get("", params={"enhet": NORTH}).text
        assert 'action="/services/records/export"' in page
        assert '<input type="hidden" name="enhet" value="Hemtjänst Norr">' in page
        assert 'name="format" value="xlsx"' in page
        assert "export.xlsx" not in page
        # the job's page: its script from the service, allowed there only
        job = start(hanna, enhet=NORTH)
        wait(hanna, job)
        reply = hanna.get(job)
        policy = reply.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert reply.headers["Cache-Control"] == "no-store"
        assert '<progress id="forlopp" max="4" value="4">' in reply.text
        assert 'aria-live="polite"' in reply.text and "Klart: 4 rader" in reply.text
        script = hanna.get("export.js")
        assert script.headers["Content-Type"].startswith("text/javascript")
        assert "fetch(" in script.text
    # the existing links still download at once
    with server.client("hanna") as hanna:
        reply = hanna.get("export.xlsx", params={"enhet": NORTH})
        assert reply.status_code == 200 and len(rows_of(reply.content)) == 4
