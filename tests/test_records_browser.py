"""HR in a real browser: log in, filter to a unit, read the coverage, download the XLSX."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from platform_fixture import Platform
from playwright.sync_api import Browser, expect
from test_learning_browser import login, serious

from omsorgslyft.records.export import HEADERS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_hr_filters_a_unit_sees_coverage_and_downloads_excel(
    records_platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    login(page, records_platform, "hanna")
    page.goto(f"{records_platform.url}/services/records/")
    expect(page.get_by_role("heading", name="Kompetensöversikt")).to_be_visible()

    page.get_by_label("Enhet", exact=True).select_option("Särskilt boende Björkbacken")
    page.get_by_role("button", name="Visa").click()
    expect(page.get_by_label("Enhet", exact=True)).to_have_value("Särskilt boende Björkbacken")
    chart = page.get_by_role("img", name="Andel med giltig utbildning: Exempelmodul")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text("Mål 80 %")
    expect(chart).to_contain_text("Särskilt boende Björkbacken")
    expect(chart).not_to_contain_text("Hemtjänst Norr")
    # the same figures as a table, for screen readers and for reading exact numbers
    page.get_by_text("Visa som tabell").first.click()
    table = page.get_by_role("table", name="Exempelmodul med alla blocktyper: andel med giltig")
    row = table.get_by_role("row", name="Särskilt boende Björkbacken")
    expect(row).to_contain_text("Nej")
    assert serious(page) == []

    with page.expect_download() as info:
        page.get_by_role("link", name="Excel (.xlsx)").click()
    download = info.value
    assert download.suggested_filename.startswith("kompetensregister-")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    sheet = load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(HEADERS)
    units = {r[HEADERS.index("Enhet")] for r in rows[1:]}
    assert units == {"Särskilt boende Björkbacken"}
    names = {r[HEADERS.index("Förnamn")] for r in rows[1:]}
    assert {"Cecilia", "David"} <= names and "Olle" not in names  # Olle has left
    context.close()


def test_matrix_on_a_phone_is_keyboard_reachable(
    records_platform: Platform, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    login(page, records_platform, "hanna")
    page.goto(f"{records_platform.url}/services/records/matris?status=f%C3%B6rsenad")
    expect(page.get_by_role("heading", name="Kompetensmatris")).to_be_visible()
    expect(
        page.get_by_role("region", name="Kompetensmatris, går att rulla i sidled")
    ).to_be_visible()
    assert serious(page) == []
    context.close()
