"""The module page's Content-Security-Policy in a real browser: widgets work, nothing is
blocked that the page needs, and what the policy is for is blocked."""

from __future__ import annotations

import json
import re
import time

import psutil
import pytest
from pages import login
from platform_fixture import Platform
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from test_learn_limits import page_api, page_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: collects every CSP violation the page reports (installed before any of its scripts)
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def kernel_id(page: Page) -> str:
    config = page.locator("#jupyter-config-data").text_content() or "{}"
    return str(json.loads(config)["kernelId"])


def kernel_alive(kernel: str) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        if any(arg.endswith(f"kernel-{kernel}.json") for arg in proc.info["cmdline"] or []):
            return True
    return False


def test_widgets_run_under_the_policy(platform: Platform, browser: Browser) -> None:
    context = browser.new_context()
    context.add_init_script(WATCH)
    page = context.new_page()
    console: list[str] = []

    def keep(msg: ConsoleMessage) -> None:
        if msg.type == "error" or "Content Security Policy" in msg.text:
            console.append(msg.text)

    page.on("console", keep)
    login(page, platform, "hanna")  # whose answers no other test reads
    # HR lands on the register: her own training is one click away in the header
    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Mina utbildningar"
    ).click()
    expect(page.get_by_role("heading", name="Mina utbildningar")).to_be_visible()
    assert page.evaluate("window.__csp") == []

    page.get_by_role("link", name="Exempelmodul med alla blocktyper").first.click()
    expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
    # a widget answers, and the answer is saved through the kernel
    exercise = page.locator(".ol-card").filter(has_text="Vilken del av KASAM handlar om att förstå")
    exercise.get_by_label("Begriplighet").check()
    exercise.get_by_role("button", name="Kontrollera svaret").click()
    expect(exercise.locator(".ol-feedback")).to_contain_text("Rätt")
    expect(page.locator(".ol-save")).to_contain_text("Sparat kl.", timeout=10_000)
    page.wait_for_timeout(1000)
    assert page.evaluate("window.__csp") == []
    assert not [m for m in console if "Content Security Policy" in m], console

    # what the policy is for: a script smuggled into the page does not run
    page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__smuggled = true";
          document.body.appendChild(s);
        }"""
    )
    assert page.evaluate("window.__smuggled === undefined")
    assert any("script-src" in v for v in page.evaluate("window.__csp"))
    context.close()


def test_a_page_left_and_opened_again_goes_on(platform: Platform, browser: Browser) -> None:
    """Leaving a page stops its kernel (and ends its token); opening the module again
    starts a new one, with a new token, and shows the answers given before."""
    context = browser.new_context()
    page = context.new_page()
    login(page, platform, "david")
    page.get_by_role("link", name="Exempelmodul med alla blocktyper").first.click()
    expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
    dialogue = page.locator(".ol-dialog")
    dialogue.get_by_role("button", name="Det står i planen att du ska duscha.").click()
    expect(dialogue).to_contain_text("Elsa drar upp täcket")
    expect(page.locator(".ol-save")).to_contain_text("Sparat kl.", timeout=10_000)
    first = kernel_id(page)
    token = page_token(first)
    page.goto(f"{platform.url}/services/learn/")  # the learner leaves the page
    deadline = time.monotonic() + 45
    while kernel_alive(first) and time.monotonic() < deadline:
        time.sleep(1)
    assert not kernel_alive(first), "the page's kernel was left running"
    assert page_api(platform, "load", token).status_code == 401  # its token ended with it
    page.get_by_role("link", name=re.compile("Exempelmodul med alla blocktyper")).first.click()
    expect(page.locator(".ol-dialog")).to_contain_text("Elsa drar upp täcket", timeout=60_000)
    assert kernel_id(page) != first
    context.close()
