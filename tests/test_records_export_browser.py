"""HR starts a large export in a real browser, sees its progress and downloads the file.

The real records app, templates, script and CSP, in process (as in
tests/test_records_export_jobs.py); only the hub's "who is this?" is stood in for, and the
page's limit for a direct download is lowered so that a small register goes the job's way
(the platform's own records service keeps the default, and its small roster the links:
tests/test_records_browser.py downloads through them).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, ConsoleMessage, expect
from test_learning_browser import serious
from test_records_export_jobs import NORTH, Server, make_records, serve

from omsorgslyft.records.export import HEADERS
from omsorgslyft.records.handlers import Records

pytestmark = pytest.mark.browser


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[Server]:
    records: Records = make_records(tmp_path, extra=2_000)
    compute = records.all

    def slowly():  # type: ignore[no-untyped-def]
        time.sleep(1.5)  # long enough to see the page before the file is ready
        return compute()

    for server in serve(records):
        records.all = slowly  # type: ignore[method-assign]
        yield server
    records.store.dispose()


def test_hr_exports_in_the_background_and_downloads(
    slow_server: Server, browser: Browser, tmp_path: Path
) -> None:
    total = 2 * (2_000 + 2)  # Hemtjänst Norr: the extra staff, anna and gunilla
    for width in (360, 1280):
        context = browser.new_context(
            accept_downloads=True,
            viewport={"width": width, "height": 900},
        )
        context.add_cookies([{"name": "test-user", "value": "hanna", "url": slow_server.url}])
        page = context.new_page()
        blocked: list[str] = []

        def note(message: ConsoleMessage, blocked: list[str] = blocked) -> None:
            if message.location.get("url", "").endswith("/favicon.ico"):
                return  # the service has none
            if "Content Security Policy" in message.text or message.type == "error":
                blocked.append(message.text)

        page.on("console", note)
        page.goto(f"{slow_server.url}?enhet={NORTH.replace(' ', '+')}")
        export = page.get_by_role("region", name="Exportera")
        expect(export).to_contain_text("4\u00a0004 rader")
        export.screenshot(path=tmp_path / f"export-{width}.png")
        export.get_by_role("button", name="Excel (.xlsx)").click()

        expect(page.get_by_role("heading", name="Export: Excel (.xlsx)")).to_be_visible()
        bar = page.get_by_role("progressbar", name="Förlopp")
        expect(bar).to_be_visible()
        status = page.get_by_role("status")
        expect(status).to_have_attribute("aria-live", "polite")
        expect(status).to_have_text("Registret räknas fram.")  # the page came first
        assert serious(page) == []
        page.screenshot(path=tmp_path / f"job-{width}-running.png", full_page=True)

        link = page.get_by_role("link", name="Ladda ner kompetensregister-")
        expect(link).to_be_visible(timeout=30_000)  # the script saw the job finish
        expect(status).to_have_text(
            f"Klart: {total // 1000}\u00a0{total % 1000:03d} rader. Filen är redo att laddas ner."
        )
        expect(bar).to_have_js_property("value", total)
        expect(bar).to_have_js_property("max", total)
        assert serious(page) == []
        page.screenshot(path=tmp_path / f"job-{width}-done.png", full_page=True)

        with page.expect_download() as info:
            link.click()
        download = info.value
        assert download.suggested_filename.startswith("kompetensregister-")
        assert download.suggested_filename.endswith(".xlsx")
        target = tmp_path / f"{width}-{download.suggested_filename}"
        download.save_as(target)
        rows = list(
            load_workbook(io.BytesIO(target.read_bytes())).active.iter_rows(values_only=True)
        )
        assert list(rows[0]) == list(HEADERS) and len(rows) == 1 + total
        assert {r[HEADERS.index("Enhet")] for r in rows[1:]} == {NORTH}
        assert blocked == []
        context.close()
