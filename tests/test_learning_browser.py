"""What a learner does, in a real browser, through the real hub."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pages import login
from platform_fixture import PASSWORD, Platform
from playwright.sync_api import Browser, Page, expect

from omsorgslyft.grading.course import Course

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def card(page: Page, prompt: str) -> Any:
    return page.locator(".ol-card").filter(has_text=prompt)


def saves(page: Page) -> int:
    """How many saves the page has confirmed (the status line counts them)."""
    value = page.locator(".ol-save").get_attribute("data-sparning")
    return int(value or 0)


def wait_saved(page: Page, before: int) -> None:
    """Wait until a save after ``before`` is confirmed and no more are arriving."""
    expect(page.locator(".ol-save")).to_contain_text("Sparat kl.", timeout=10_000)
    deadline = time.monotonic() + 15
    last = -1
    while time.monotonic() < deadline:
        now = saves(page)
        if now > before and now == last:
            return
        last = now
        page.wait_for_timeout(500)
    raise AssertionError(f"no confirmed save after {before}")


def open_module(page: Page) -> None:
    page.get_by_role("link", name="Exempelmodul med alla blocktyper").first.click()
    expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)


def order_items(page: Page, prompt: str, wanted: list[str]) -> None:
    box = card(page, prompt)
    for target_pos, text in enumerate(wanted):
        while True:
            rows = box.locator(".ol-order-row")
            labels = [rows.nth(i).inner_text() for i in range(rows.count())]
            pos = next(i for i, label in enumerate(labels) if text in label)
            if pos == target_pos:
                break
            rows.nth(pos).get_by_role("button", name="Upp").click()
            expect(box.locator(".ol-order-row").nth(pos - 1)).to_contain_text(text)


def test_learner_takes_a_module(platform: Platform, browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 800}, accept_downloads=True)
    page = context.new_page()
    login(page, platform, "anna")
    expect(page.locator("main")).to_contain_text("Ej påbörjad")
    open_module(page)

    # an exercise gives feedback at once
    exercise = card(page, "Vilken del av KASAM handlar om att förstå")
    n = saves(page)
    exercise.get_by_label("Begriplighet").check()
    wait_saved(page, n)
    exercise.get_by_role("button", name="Kontrollera svaret").click()
    expect(exercise.locator(".ol-feedback")).to_contain_text("Rätt")

    # the dialogue branches
    dialogue = page.locator(".ol-dialog")
    n = saves(page)
    dialogue.get_by_role("button", name="Det står i planen att du ska duscha.").click()
    expect(dialogue).to_contain_text("Elsa drar upp täcket")
    wait_saved(page, n)

    reflection = card(page, "Vad ger hen mening i vardagen?")
    n = saves(page)
    reflection.locator("textarea").fill("Min privata tanke om Elsa")
    reflection.locator("textarea").blur()
    wait_saved(page, n)

    # reload: everything is still there
    page.reload()
    expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
    expect(
        card(page, "Vilken del av KASAM handlar om att förstå").get_by_label("Begriplighet")
    ).to_be_checked()
    expect(card(page, "Vad ger hen mening i vardagen?").locator("textarea")).to_have_value(
        "Min privata tanke om Elsa"
    )
    expect(page.locator(".ol-dialog")).to_contain_text("Elsa drar upp täcket")

    # the knowledge check, answered right
    n = saves(page)
    card(page, "Vad betyder salutogenes?").get_by_label("Hälsans ursprung").check()
    multi = card(page, "Vilka tre delar har KASAM?")
    for label in ("Begriplighet", "Hanterbarhet", "Meningsfullhet"):
        multi.get_by_label(label, exact=True).check()
    card(page, "Målen i en rehabiliterande insats ska vara personens egna.").get_by_label(
        "Sant"
    ).check()
    order_items(
        page, "Sätt stegen i rätt ordning.", ["Lyssna", "Planera", "Genomföra", "Följa upp"]
    )
    pairs = card(page, "Para ihop.")
    for left, right in (
        ("Begriplighet", "Förstå"),
        ("Hanterbarhet", "Resurser"),
        ("Meningsfullhet", "Engagemang"),
    ):
        pairs.get_by_label(left).select_option(label=right)
    wait_saved(page, n)

    page.get_by_role("button", name="Lämna in").click()
    result = page.locator(".ol-result")
    expect(result).to_contain_text("Godkänd!", timeout=30_000)
    expect(result).to_contain_text("7 av 7 poäng")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Ladda ned ditt intyg (PDF)").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")

    # the gradebook holds the grade
    course = Course(platform.project / "grading")
    assert course.grade("exempelmodul-v1-a", "anna").score == 7

    # Mina utbildningar shows the pass
    page.goto(f"{platform.url}/services/learn/")
    expect(page.locator("main")).to_contain_text("Godkänd")
    context.close()

    # another learner sees none of it
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    page = other.new_page()
    login(page, platform, "bengt")
    open_module(page)
    expect(
        card(page, "Vilken del av KASAM handlar om att förstå").get_by_label("Begriplighet")
    ).not_to_be_checked()
    expect(card(page, "Vad ger hen mening i vardagen?").locator("textarea")).to_have_value("")
    expect(page.locator(".ol-result")).to_have_count(0)
    other.close()


def test_keyboard_only(platform: Platform, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{platform.url}/hub/login")
    # the login page focuses the username field itself: wait for it before typing
    expect(page.get_by_label("Användarnamn")).to_be_focused()
    page.keyboard.type("cecilia")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Mina utbildningar")).to_be_visible()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip().startswith("Börja"):
            break
    page.keyboard.press("Enter")
    expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
    context.close()


def serious(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def test_accessibility(platform: Platform, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{platform.url}/hub/login")
    assert page.get_attribute("html", "lang") == "sv"
    assert serious(page) == []
    login(page, platform, "david")
    assert page.get_attribute("html", "lang") == "sv"
    assert serious(page) == []
    open_module(page)
    assert page.get_attribute("html", "lang") == "sv"
    assert serious(page) == []
    context.close()


def test_culled_kernel_loses_nothing(platform: Platform, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    login(page, platform, "david")
    open_module(page)
    kernel_id = page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    n = saves(page)
    card(page, "Vilken del av KASAM handlar om att förstå").get_by_label("Hanterbarhet").check()
    wait_saved(page, n)
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    context.close()  # the learner leaves; the kernel goes idle and is culled

    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        reply = httpx.get(f"{platform.url}/services/learn/api/kernels/{kernel_id}", cookies=cookies)
        if reply.status_code in (403, 404):
            break
        time.sleep(1)
    else:
        pytest.fail("the idle kernel was not culled")
    assert f"Culling 'idle' kernel 'python3' ({kernel_id})" in platform.log.read_text(
        errors="replace"
    )

    context = browser.new_context()
    page = context.new_page()
    login(page, platform, "david")
    open_module(page)
    expect(
        card(page, "Vilken del av KASAM handlar om att förstå").get_by_label("Hanterbarhet")
    ).to_be_checked()
    context.close()
