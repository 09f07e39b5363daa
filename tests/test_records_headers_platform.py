"""The records service's responses are never stored by a cache, and its cookies are SameSite.

A fresh browser logs in to the hub, then opens the records service: the OAuth round trip
(state cookie, callback, session cookie), every HR page, export and API route, errors, a
refused upload. Every response the records service sends is checked, redirects included.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest
from platform_fixture import PASSWORD, Platform

pytestmark = pytest.mark.slow

BASE = "/services/records/"
HR_TOKEN = "lonesystem-token-0123456789abcdef"
PERSONAL = [
    "import",  # first: the OAuth round trip starts here
    "",
    "matris",
    "matris?enhet=Hemtj%C3%A4nst+Norr",
    "anstalld/1001",
    "anstalld/1001/registerutdrag",
    "export.xlsx",
    "export.csv",
    "export.csv?dialekt=utf8",
    "api/records",
    "api/coverage",
    "api/learners/anna/records",
    "statistik",
    "api/statistics",
    "anstalld/0000",  # 404
]


def browser(platform: Platform, seen: list[httpx.Response]) -> httpx.Client:
    def keep(response: httpx.Response) -> None:
        if response.request.url.path.startswith(BASE):
            seen.append(response)

    return httpx.Client(
        base_url=platform.url,
        follow_redirects=True,
        timeout=60,
        event_hooks={"response": [keep]},
    )


def log_in(client: httpx.Client, user: str) -> None:
    page = client.get("/hub/login")
    data = {"username": user, "password": PASSWORD}
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    if token:
        data["_xsrf"] = token.group(1)
    assert client.post("/hub/login", data=data).status_code == 200


def cookies(response: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie header, for each cookie the response sets or clears."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        out.update({name: header for name in parsed})
    return out


def test_no_store_on_every_response_and_samesite_on_every_cookie(
    records_platform: Platform,
) -> None:
    seen: list[httpx.Response] = []
    with browser(records_platform, seen) as hr:
        log_in(hr, "hanna")
        for route in PERSONAL:
            reply = hr.get(BASE + route)
            assert reply.status_code == (404 if route == "anstalld/0000" else 200), route
        # a refused upload (a reserved account) and a form post without its token
        page = hr.get(BASE + "import").text
        token = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert token
        bad = "anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från;användarnamn\n"
        bad += "9001;A;B;a@x.se;Hemtjänst Norr;Vårdbiträde;2020-01-01;admin\n"
        files = {"fil": ("p.csv", bad.encode())}
        assert (
            hr.post(BASE + "import", files=files, data={"_xsrf": token.group(1)}).status_code == 400
        )
        assert hr.post(BASE + "import", files=files).status_code == 403
    with browser(records_platform, seen) as learner:
        log_in(learner, "anna")
        assert learner.get(BASE + "matris").status_code == 403
    with browser(records_platform, seen) as anonymous:
        anonymous.follow_redirects = False
        assert anonymous.get(BASE + "api/records").status_code == 302
    seen.append(
        httpx.get(
            records_platform.url + BASE + "api/records",
            headers={"Authorization": f"token {HR_TOKEN}"},
        )
    )

    paths = {r.request.url.path for r in seen}
    assert BASE + "oauth_callback" in paths  # the OAuth round trip was seen
    for response in seen:
        where = f"{response.request.method} {response.request.url} {response.status_code}"
        assert "no-store" in response.headers.get("cache-control", ""), where

    set_cookies: dict[str, list[str]] = {}
    for response in seen:
        for name, header in cookies(response).items():
            set_cookies.setdefault(name, []).append(header)
    # the OAuth state, the service's session and the form token, each set (and the state
    # cleared) by the records service
    assert any(name.endswith("-oauth-state") for name in set_cookies), set_cookies
    assert "_xsrf" in set_cookies, set_cookies
    assert len(set_cookies) >= 3, set_cookies
    for name, headers in set_cookies.items():
        for header in headers:
            assert "samesite=lax" in header.lower(), (name, header)
