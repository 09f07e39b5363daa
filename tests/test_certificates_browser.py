"""A certificate as the people around it meet it, through the real platform.

Anna passes the example module (through the learn service's page API, graded by nbgrader)
and downloads her certificate from Mina utbildningar in a real browser. The test reads
the PDF as a person would: renders its page to an image and scans the QR code, and reads
the printed code. A fresh browser with no login opens the address: "Intyget är giltigt",
with no more of Anna than "Anna L.". HR erases Anna on her page in the register; the same
address then says "Intyget gäller inte". The page passes axe at 360 and 1280 px.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from platform_fixture import PASSWORD, ROOT, Platform, start_platform
from playwright.sync_api import Browser, Page, expect
from test_learn_limits import page_api
from test_learning_browser import serious

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.store import AnswerStore
from omsorgslyft.records.certificates import parse_code

from answers import right_answers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
COURSE = """
id = "grund"
titel = "Grundkurs"
moduler = ["exempelmodul"]
befattningar = ["undersköterska", "vårdbiträde"]
inom_dagar = 90
giltighet = 24
"""
CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")
# Anna in tests/fixtures/personal.csv: what the public page must never show
ANNA_PRIVATE = ("Lindqvist", "anna@omsorg.example.se", "1001", "Hemtjänst Norr")


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(
        tmp_path_factory.mktemp("certificates"),
        [ROOT / "docs" / "exempelmodul"],
        courses={"grund": COURSE},
        roster=Path(__file__).parent / "fixtures" / "personal.csv",
    )


def log_in(page: Page, platform: Platform, user: str) -> None:
    """The hub's own login form (wherever the person lands afterwards)."""
    page.goto(f"{platform.url}/hub/login")
    page.get_by_label("Användarnamn").fill(user)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(lambda url: "/hub/login" not in url)


def pass_module(platform: Platform, learner: str) -> None:
    """The learner answers every question right and hands in, as the page's kernel does."""
    answers = AnswerStore(f"sqlite:///{platform.learn_db}")
    token = answers.open_session(learner, EXAMPLE.id, EXAMPLE.version)
    answers.engine.dispose()
    loaded = page_api(platform, "load", token)
    assert loaded.status_code == 200, loaded.text
    right = right_answers(EXAMPLE)
    for qid in loaded.json()["attempt"]["questions"]:
        saved = page_api(platform, "save", token, {"kind": "svar", "key": qid, "value": right[qid]})
        assert saved.status_code == 200, saved.text
    reply = page_api(platform, "submit", token)
    assert reply.status_code == 200, reply.text
    assert reply.json()["result"]["passed"]


def read_certificate(pdf: bytes, tmp_path: Path) -> tuple[str, str, str]:
    """(the QR code's address, the printed code, all the text) of the PDF's one page."""
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    page = document[0]
    image = page.render(scale=2).to_pil()
    image.save(tmp_path / "intyg.png")
    found = zxingcpp.read_barcodes(image)
    assert [b.format for b in found] == [zxingcpp.BarcodeFormat.QRCode], found
    text = page.get_textpage().get_text_range()
    codes = CODE.findall(text)
    assert len(codes) == 1, text
    return found[0].text, codes[0], text


def test_a_certificate_is_verified_by_its_qr_code_until_erasure(
    certified: Platform, browser: Browser, tmp_path: Path
) -> None:
    pass_module(certified, "anna")

    # Anna downloads her certificate from Mina utbildningar
    learner = browser.new_context(viewport={"width": 360, "height": 800}, accept_downloads=True)
    page = learner.new_page()
    log_in(page, certified, "anna")
    expect(page.get_by_role("heading", name="Mina utbildningar")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Ladda ned intyg")).click()
    assert info.value.suggested_filename == "intyg-exempelmodul.pdf"
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    # asking again gives the same certificate
    again = page.request.get(f"{certified.url}/services/learn/intyg/exempelmodul.pdf")
    assert again.status == 200 and again.headers["cache-control"] == "no-store"
    second = pdfium.PdfDocument(again.body())[0].get_textpage().get_text_range()
    learner.close()

    # Bengt has passed nothing: no certificate, and the register's words why
    bengt = certified.login("bengt")
    refused = bengt.get("/services/learn/intyg/exempelmodul.pdf")
    assert refused.status_code == 404
    assert "inget giltigt godkännande" in refused.text and '<html lang="sv">' in refused.text
    bengt.close()

    url, printed, text = read_certificate(pdf, tmp_path)
    assert url.startswith(f"{certified.url}/services/records/intyg/"), url
    code = url.rsplit("/", 1)[1]
    assert printed == code and parse_code(code) is not None
    assert "Anna Lindqvist" in text and "Exempelmodul med alla blocktyper" in text
    # the register's validity (the course's 24 months), not the module's own 36
    dates = re.search(r"Godkänd (\d+ \w+ (\d{4})) · Giltigt till och med (\d+ \w+ (\d{4}))", text)
    assert dates is not None, text
    assert int(dates.group(4)) - int(dates.group(2)) == 2, dates.group(0)
    assert CODE.findall(second) == [code]

    # anyone opens the address, with no login
    anyone = browser.new_context(viewport={"width": 360, "height": 800})
    check = anyone.new_page()
    check.goto(url)
    expect(check.get_by_role("heading", level=1)).to_have_text("Intyget är giltigt")
    body = check.locator("main")
    expect(body).to_contain_text("Anna L.")
    expect(body).to_contain_text("Exempelmodul med alla blocktyper, version 1")
    expect(body).to_contain_text(code)
    expect(body).to_contain_text(dates.group(3))
    html = check.content()
    for private in ANNA_PRIVATE:
        assert private not in html, private
    assert not re.search(r"\banna\b", html)  # her username
    assert check.get_attribute("html", "lang") == "sv"
    assert serious(check) == []
    check.screenshot(path=str(tmp_path / "giltigt-360.png"), full_page=True)
    check.set_viewport_size({"width": 1280, "height": 900})
    check.screenshot(path=str(tmp_path / "giltigt-1280.png"), full_page=True)
    assert serious(check) == []
    # typing the code into the form leads to the same page
    check.goto(f"{certified.url}/services/records/intyg")
    assert serious(check) == []
    check.screenshot(path=str(tmp_path / "formular-1280.png"), full_page=True)
    check.get_by_label("Kod på intyget").fill(code.lower().replace("-", " "))
    check.get_by_role("button", name="Kontrollera").click()
    expect(check.get_by_role("heading", level=1)).to_have_text("Intyget är giltigt")
    assert check.url == url

    # HR erases Anna on her page in the register
    hr = browser.new_context()
    office = hr.new_page()
    log_in(office, certified, "hanna")
    office.goto(f"{certified.url}/services/records/anstalld/1001")
    office.get_by_text("Radera eller pseudonymisera").click()
    office.get_by_label("Radera allt om personen.").check()
    office.get_by_label("Skriv anställningsnumret 1001 för att bekräfta").fill("1001")
    office.get_by_role("button", name="Genomför").click()
    expect(office.locator("main")).to_contain_text("Uppgifterna är raderade.")
    hr.close()

    # the same address now says it is not valid, and nothing of Anna
    check.goto(url)
    expect(check.get_by_role("heading", level=1)).to_have_text("Intyget gäller inte")
    assert "Anna" not in check.content()
    assert serious(check) == []
    check.screenshot(path=str(tmp_path / "gäller-inte-1280.png"), full_page=True)
    check.set_viewport_size({"width": 360, "height": 800})
    check.screenshot(path=str(tmp_path / "gäller-inte-360.png"), full_page=True)
    assert serious(check) == []
    anyone.close()
