"""Login throttling: the limiter (time injected), the client address, the authenticator
wrapper, and its wiring by ``apply`` (the real hub is in test_login_throttle_hub.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from tornado import web
from tornado.httputil import HTTPHeaders
from traitlets.config import Config

from omsorgslyft.hub.settings import EntraSettings, HubSettings, LdapSettings, apply
from omsorgslyft.hub.throttle import (
    FailureLimiter,
    LoginThrottle,
    ThrottledSharedPasswordAuthenticator,
    client_address,
    minutes_text,
    throttled_error,
)

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "omsorg-demo-2026"
WINDOW = 15 * 60


class Clock:
    """``time.time`` for the limiter and the ``limits`` package: moves only when told."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    return clock


def test_five_failures_lock_the_user_for_the_rest_of_the_window(clock: Clock) -> None:
    limiter = FailureLimiter(5, 20, WINDOW)
    for _ in range(5):
        assert limiter.begin("anna", "10.0.0.1") is None
        limiter.failed("10.0.0.1")
        clock.advance(10)
    # the sixth attempt is refused before the password is looked at
    wait = limiter.begin("anna", "10.0.0.1")
    assert wait == pytest.approx(WINDOW - 50)
    # from anywhere: the count is the user's
    assert limiter.begin("anna", "10.9.9.9") == pytest.approx(WINDOW - 50)
    # another user from the same address is not locked (5 failures < 20)
    assert limiter.begin("bengt", "10.0.0.1") is None
    # the window moves: when the first failure leaves it, one more try is allowed
    clock.advance(WINDOW - 50 + 1)
    assert limiter.begin("anna", "10.0.0.1") is None
    assert limiter.begin("anna", "10.0.0.1") == pytest.approx(10 - 1)  # the next one at 10 s


def test_a_success_forgives_the_user_but_not_the_address(clock: Clock) -> None:
    limiter = FailureLimiter(5, 20, WINDOW)
    for _ in range(4):
        assert limiter.begin("anna", "10.0.0.1") is None
        limiter.failed("10.0.0.1")
    assert limiter.begin("anna", "10.0.0.1") is None
    limiter.succeeded("anna")
    for _ in range(5):  # a fresh count of five
        assert limiter.begin("anna", "10.0.0.1") is None
        limiter.failed("10.0.0.1")
    assert limiter.begin("anna", "10.0.0.1") is not None
    # 9 failures from the address so far; anna's success did not clear them
    for i in range(11):
        assert limiter.begin(f"gissning{i}", "10.0.0.1") is None
        limiter.failed("10.0.0.1")
    assert limiter.begin("bengt", "10.0.0.1") == pytest.approx(WINDOW)
    limiter.succeeded("bengt")  # (a success elsewhere changes nothing for the address)
    assert limiter.begin("cecilia", "10.0.0.1") is not None
    assert limiter.begin("cecilia", "10.0.0.2") is None  # another address
    clock.advance(WINDOW + 1)
    assert limiter.begin("cecilia", "10.0.0.1") is None


def test_attempts_in_flight_count_against_the_user(clock: Clock) -> None:
    """Concurrent guesses cannot slip past the limit before the first ones have failed."""
    limiter = FailureLimiter(5, 20, WINDOW)
    assert [limiter.begin("anna", "10.0.0.1") for _ in range(7)] == [None] * 5 + [
        pytest.approx(WINDOW)
    ] * 2


def test_a_limit_of_zero_is_off(clock: Clock) -> None:
    limiter = FailureLimiter(0, 0, WINDOW)
    for _ in range(100):
        assert limiter.begin("anna", "10.0.0.1") is None
        limiter.failed("10.0.0.1")
    with pytest.raises(ValueError):
        FailureLimiter(5, 20, 0)


def test_the_message_and_status() -> None:
    assert minutes_text(WINDOW - 0.5) == "15 minuter"
    assert minutes_text(61) == "2 minuter"
    assert minutes_text(3) == "1 minut"
    error = throttled_error(WINDOW - 3)
    assert error.status_code == 429
    assert error.log_message == (
        "För många misslyckade inloggningsförsök. Vänta 15 minuter och försök igen, "
        "eller kontakta din chef."
    )
    assert error.headers == {"Retry-After": str(WINDOW - 3)}  # type: ignore[attr-defined]


def request(
    headers: dict[str, str] | None = None, peer: str = "127.0.0.1", remote_ip: str | None = None
) -> Any:
    """What Tornado gives a handler: ``remote_ip`` after X-headers, the peer kept aside."""
    return SimpleNamespace(
        headers=HTTPHeaders(headers or {}),
        remote_ip=remote_ip or peer,
        connection=SimpleNamespace(context=SimpleNamespace(_orig_remote_ip=peer)),
    )


def test_the_client_address_behind_the_proxy() -> None:
    # configurable-http-proxy appends the address that connected to it
    assert client_address(request({"X-Forwarded-For": "203.0.113.5"})) == "203.0.113.5"
    # what the client wrote itself is not believed; X-Real-Ip is passed on unchanged by
    # the proxy (Tornado's remote_ip would take it), so it is ignored
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5", "X-Real-Ip": "198.51.100.2"}
    assert client_address(request(spoofed, remote_ip="198.51.100.2")) == "203.0.113.5"
    # a trusted proxy in front (JupyterHub.trusted_downstream_ips) is skipped
    behind_ingress = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5, 10.1.2.3"}
    assert client_address(request(behind_ingress), trusted=["10.1.2.3"]) == "203.0.113.5"
    # no proxy: the TCP peer
    assert client_address(request(peer="192.0.2.7")) == "192.0.2.7"
    real_ip = request({"X-Real-Ip": "198.51.100.2"}, peer="192.0.2.7")
    assert client_address(real_ip) == "192.0.2.7"
    assert client_address(request({"X-Forwarded-For": "skräp"}, peer="192.0.2.7")) == "192.0.2.7"
    # IPv4 in IPv6, and an IPv6 client counted by its /64
    assert client_address(request({"X-Forwarded-For": "::ffff:192.0.2.9"})) == "192.0.2.9"
    assert client_address(request({"X-Forwarded-For": "2001:db8:1:2:aaaa::1"})) == (
        "2001:db8:1:2::/64"
    )


def authenticator(**limits: int) -> ThrottledSharedPasswordAuthenticator:
    c = Config()
    c.SharedPasswordAuthenticator.user_password = PASSWORD
    c.Authenticator.allowed_users = {"anna", "bengt"}
    for name, value in limits.items():
        setattr(c.LoginThrottle, name, value)
    return ThrottledSharedPasswordAuthenticator(config=c)


def login(
    auth: SharedPasswordAuthenticator, user: str, password: str, address: str = "203.0.113.5"
) -> Any:
    handler = SimpleNamespace(request=request({"X-Forwarded-For": address}))
    return asyncio.run(
        auth.get_authenticated_user(handler, {"username": user, "password": password})
    )


def test_the_authenticator_refuses_even_the_right_password_while_throttled(clock: Clock) -> None:
    auth = authenticator(max_user_failures=3, max_address_failures=7)
    assert login(auth, "anna", PASSWORD)["name"] == "anna"
    for _ in range(3):
        assert login(auth, "anna", "fel") is None
    for name in ("anna", "ANNA", "Anna"):  # counted as the authenticator normalizes names
        with pytest.raises(web.HTTPError) as refused:
            login(auth, name, PASSWORD)
        assert refused.value.status_code == 429
        assert "Vänta 15 minuter" in str(refused.value.log_message)
    assert login(auth, "bengt", PASSWORD)["name"] == "bengt"  # the address is below its limit
    # an unknown name and a known one are counted alike: nothing tells them apart
    for _ in range(3):
        assert login(auth, "finns-inte", "fel") is None
    with pytest.raises(web.HTTPError) as unknown:
        login(auth, "finns-inte", "fel")
    assert unknown.value.log_message == refused.value.log_message
    assert login(auth, "bengt", "fel") is None
    # 7 failures from the address: everybody from it waits, nobody elsewhere
    with pytest.raises(web.HTTPError):
        login(auth, "bengt", PASSWORD)
    assert login(auth, "bengt", PASSWORD, address="203.0.113.6")["name"] == "bengt"
    clock.advance(WINDOW + 1)
    assert login(auth, "anna", PASSWORD)["name"] == "anna"


def test_the_authenticator_passes_other_logins_through(clock: Clock) -> None:
    auth = authenticator(max_user_failures=1)
    # no handler (not a login post): passed through uncounted
    for _ in range(3):
        data = {"username": "anna", "password": "fel"}
        assert asyncio.run(auth.get_authenticated_user(None, data)) is None
    assert login(auth, "anna", "fel") is None
    with pytest.raises(web.HTTPError):
        login(auth, "anna", PASSWORD)


def configured(**kwargs: Any) -> Config:
    c = Config()
    apply(c, HubSettings(project_root=ROOT, data_dir=Path("/var/lib/omsorgslyft"), **kwargs))
    return c


def test_apply_throttles_the_demo_login() -> None:
    c = configured()
    hub = JupyterHub(config=c)
    assert hub.authenticator_class is ThrottledSharedPasswordAuthenticator
    auth = hub.authenticator_class(config=c)
    assert isinstance(auth, SharedPasswordAuthenticator) and isinstance(auth, LoginThrottle)
    assert auth.user_password == PASSWORD  # the SharedPasswordAuthenticator section applies
    assert (auth.max_user_failures, auth.max_address_failures, auth.window_minutes) == (5, 20, 15)
    custom = configured(
        login_max_user_failures=3, login_max_address_failures=0, login_throttle_minutes=30
    )
    auth = JupyterHub(config=custom).authenticator_class(config=custom)
    assert (auth.max_user_failures, auth.max_address_failures, auth.window_minutes) == (3, 0, 30)


def test_apply_throttles_ldap_but_not_entra() -> None:
    from ldapauthenticator import LDAPAuthenticator
    from oauthenticator.azuread import AzureAdOAuthenticator

    ldap = LdapSettings(
        server_address="ldap.kommun.se",
        bind_dn_template=("uid={username},ou=personal,dc=kommun,dc=se",),
    )
    c = configured(login="ldap", ldap=ldap, login_max_user_failures=4)
    cls = JupyterHub(config=c).authenticator_class
    assert issubclass(cls, LoginThrottle) and issubclass(cls, LDAPAuthenticator)
    auth = cls(config=c)
    assert auth.server_address == "ldap.kommun.se" and auth.max_user_failures == 4
    entra = EntraSettings("tenant", "client", "hemlig", "https://x.se/hub/oauth_callback")
    c = configured(login="entra", entra=entra)
    cls = JupyterHub(config=c).authenticator_class
    # OAuth: no password reaches the hub, the identity provider throttles guessing
    assert cls is AzureAdOAuthenticator and not issubclass(cls, LoginThrottle)


def test_the_login_page_shows_the_throttle_message() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "hub_config" / "templates"))
    page = env.get_template("login.html")
    message = str(throttled_error(WINDOW).log_message)
    shown = page.render(login_error=message, status_code=429, authenticator_login_url="/hub/login")
    assert message in shown
    # other errors (JupyterHub's English ones) stay the one Swedish sentence
    wrong = page.render(
        login_error="Invalid username or password", authenticator_login_url="/hub/login"
    )
    assert "Fel användarnamn eller lösenord." in wrong and "Invalid" not in wrong


def test_a_wrong_password_with_swedish_letters_is_just_wrong() -> None:
    c = Config()
    apply(c, HubSettings(project_root=Path("/srv/o"), data_dir=Path("/var/lib/o")))
    auth = ThrottledSharedPasswordAuthenticator(config=c)
    assert (
        asyncio.run(auth.authenticate(None, {"username": "anna", "password": "fel-lösenord"}))
        is None
    )
    right = {"username": "anna", "password": "omsorg-demo-2026"}
    assert asyncio.run(auth.authenticate(None, right))["name"] == "anna"
