"""Login throttling against the real hub behind configurable-http-proxy (default limits:
5 failures per user, 20 per address, 15 minutes)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from platform_fixture import PASSWORD, ROOT, Platform, start_platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

THROTTLED = (
    "För många misslyckade inloggningsförsök. Vänta 15 minuter och försök igen, "
    "eller kontakta din chef."
)
WRONG = "Fel användarnamn eller lösenord."


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # its own platform: the test locks out 127.0.0.1, which others must not share
    yield from start_platform(tmp_path_factory.mktemp("throttle"), [ROOT / "docs" / "exempelmodul"])


def attempt(
    hub: Platform,
    user: str,
    password: str,
    source: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One login form post from a fresh browser connecting from ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=hub.url, transport=transport, headers=headers, timeout=30) as client:
        page = client.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert xsrf, page.text[:300]
        data = {"username": user, "password": password, "_xsrf": xsrf.group(1)}
        return client.post("/hub/login", data=data)


def refused(reply: httpx.Response) -> bool:
    assert reply.status_code == 403, (reply.status_code, reply.text[:300])
    return WRONG in reply.text and THROTTLED not in reply.text


def throttled(reply: httpx.Response) -> bool:
    assert reply.status_code == 429, (reply.status_code, reply.text[:300])
    assert 0 < int(reply.headers["Retry-After"]) <= 15 * 60
    return THROTTLED in reply.text and 'role="alert"' in reply.text


def logged_in(reply: httpx.Response) -> bool:
    assert reply.status_code == 302, (reply.status_code, reply.text[:300])
    return "jupyterhub-session-id" in reply.cookies or "jupyterhub-hub-login" in reply.cookies


def test_wrong_passwords_throttle_the_user_then_the_address(hub: Platform) -> None:
    for _ in range(5):
        assert refused(attempt(hub, "anna", "fel-losenord"))
    # the sixth is refused whatever the password, and however the name is written
    assert throttled(attempt(hub, "anna", PASSWORD))
    assert throttled(attempt(hub, "Anna", PASSWORD))
    # the same address, another user: 5 failures are below the address's 20
    assert logged_in(attempt(hub, "bengt", PASSWORD))

    # a name that does not exist is throttled alike: the page tells nothing apart
    for _ in range(5):
        assert refused(attempt(hub, "finns-inte", "fel-losenord"))
    assert throttled(attempt(hub, "finns-inte", "fel-losenord"))

    for name in ("gissning-1", "gissning-2", "gissning-3"):
        for _ in range(3):
            assert refused(attempt(hub, name, "fel-losenord"))
    # 19 failures: cecilia logs in, which does not clear the address's count
    assert logged_in(attempt(hub, "cecilia", PASSWORD))
    assert refused(attempt(hub, "gissning-4", "fel-losenord"))
    # 20: nobody from this address gets in, and forged forwarding headers do not help
    assert throttled(attempt(hub, "david", PASSWORD))
    forged = {"X-Forwarded-For": "198.51.100.7", "X-Real-Ip": "198.51.100.8"}
    assert throttled(attempt(hub, "david", PASSWORD, headers=forged))

    # the hub counts the client's own address behind the proxy (whose address is the same
    # for every request): another client still logs in, but anna's lock is hers everywhere
    assert logged_in(attempt(hub, "david", PASSWORD, source="127.0.0.2"))
    assert throttled(attempt(hub, "anna", PASSWORD, source="127.0.0.2"))
    log = Path(hub.log).read_text(errors="replace")
    assert "Login throttled for 'anna' from 127.0.0.1" in log
