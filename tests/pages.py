"""What every browser test does the same way: log in through the hub's own login page."""

from __future__ import annotations

from platform_fixture import PASSWORD, Platform
from playwright.sync_api import Page, expect


def login(page: Page, platform: Platform, user: str) -> None:
    page.goto(f"{platform.url}/hub/login")
    page.get_by_label("Användarnamn").fill(user)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    # each person lands where their work is; every landing page has the shared header
    expect(page.get_by_role("navigation", name="Huvudmeny")).to_be_visible()
