"""Every role in a real browser: where they land after logging in, and the shared header
that takes them to every tool they may use (and to no other).

The people are the roster's (tests/fixtures/personal.csv): anna (care staff), gunilla
(enhetschef, Hemtjänst Norr), hanna (HR), tove (trainer). Each logs in through the hub's
login page on a phone-sized screen, lands, then follows every link of the header by
clicking it as a person would (no ``force``); the manager downloads her unit's export.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pages import login
from platform_fixture import Platform
from playwright.sync_api import Browser, Page, expect
from test_learning_browser import serious

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# who -> (where they land, the heading there, the header's links in order)
PEOPLE = {
    "anna": ("/services/learn/", "Mina utbildningar", ["Mina utbildningar"]),
    "gunilla": (
        "/services/records/",
        "Min enhet: Hemtjänst Norr",
        ["Mina utbildningar", "Min enhet", "Matris"],
    ),
    "hanna": (
        "/services/records/",
        "Kompetensöversikt",
        [
            "Mina utbildningar",
            "Kompetensregister",
            "Matris",
            "Importera personal",
            "Påminnelser",
            "Frågestatistik",
        ],
    ),
    "tove": (
        "/services/records/statistik",
        "Frågestatistik",
        ["Mina utbildningar", "Frågestatistik", "JupyterLab"],
    ),
}
# a link's page: its heading (JupyterLab is the trainer's own server: checked apart)
HEADINGS = {
    "Mina utbildningar": "Mina utbildningar",
    "Kompetensregister": "Kompetensöversikt",
    "Min enhet": "Min enhet: Hemtjänst Norr",
    "Matris": "Kompetensmatris",
    "Importera personal": "Importera personallista",
    "Påminnelser": "Påminnelser per e-post",
    "Frågestatistik": "Frågestatistik",
}


def header_links(page: Page) -> list[str]:
    nav = page.get_by_role("navigation", name="Huvudmeny")
    return [t.strip() for t in nav.get_by_role("link").all_inner_texts()]


def no_overlap(page: Page) -> None:
    """The header's links at this width: each whole on the screen, none over another."""
    boxes = []
    width = page.viewport_size["width"] if page.viewport_size else 0
    for link in page.get_by_role("navigation", name="Huvudmeny").get_by_role("link").all():
        box = link.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, box
        assert box["height"] >= 24, box  # a target a finger can hit (WCAG 2.5.8)
        boxes.append(box)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"] + 0.5
                or b["x"] + b["width"] <= a["x"] + 0.5
                or a["y"] + a["height"] <= b["y"] + 0.5
                or b["y"] + b["height"] <= a["y"] + 0.5
            )
            assert apart, (a, b)


@pytest.mark.parametrize("who", list(PEOPLE))
def test_each_role_lands_where_its_work_is_and_reaches_every_tool(
    records_platform: Platform, browser: Browser, who: str, tmp_path: Path
) -> None:
    landing, heading, links = PEOPLE[who]
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        login(page, records_platform, who)
        assert page.url == records_platform.url + landing, page.url
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert header_links(page) == links
        no_overlap(page)
        page.screenshot(path=str(tmp_path / f"{who}-{width}.png"), full_page=True)
        if width == 360:
            assert serious(page) == []
            for label in links:
                page.get_by_role("navigation", name="Huvudmeny").get_by_role(
                    "link", name=label, exact=True
                ).click()  # no force: nothing covers it
                if label == "JupyterLab":
                    # the trainer's own server (started on demand): the hub sends them on
                    page.wait_for_url("**/user/tove/**", timeout=120_000)
                    page.go_back()
                    continue
                expect(
                    page.get_by_role("heading", name=HEADINGS[label], exact=True)
                ).to_be_visible()
                current = page.get_by_role("navigation", name="Huvudmeny").locator(
                    "[aria-current=page]"
                )
                expect(current).to_have_text(label)
                assert header_links(page) == links  # the same header on every page
        context.close()


def test_a_manager_downloads_her_units_export(
    records_platform: Platform, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(accept_downloads=True, viewport={"width": 360, "height": 800})
    page = context.new_page()
    login(page, records_platform, "gunilla")
    expect(page.get_by_role("heading", name="Min enhet: Hemtjänst Norr")).to_be_visible()
    # only her unit to choose from
    options = page.get_by_label("Enhet", exact=True).locator("option").all_inner_texts()
    assert "Särskilt boende Björkbacken" not in options and "Hemtjänst Norr" in options
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV för svenskt Excel").click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    text = target.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, body = rows[0], rows[1:]
    units = {r[header.index("Enhet")] for r in body}
    assert units == {"Hemtjänst Norr"}
    names = {r[header.index("Förnamn")] for r in body}
    assert {"Anna", "Bengt"} <= names and not names & {"Cecilia", "David", "Tomas"}
    context.close()
