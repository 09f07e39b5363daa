"""Login throttling: failed password logins per user and per client address.

The hub's login form posts a username and a password; JupyterHub answers each post at once
(about 7 ms), so without a limit a password can be guessed as fast as requests can be sent.
``LoginThrottle`` is a mixin for the authenticators that take password posts (the demo
``SharedPasswordAuthenticator`` and ``LDAPAuthenticator``): it wraps
``get_authenticated_user``, the one entry point of every login post, and

- refuses the attempt before the password is looked at (so even the right password is
  refused) while the user has had ``max_user_failures`` failed attempts, or the client
  address ``max_address_failures``, within the last ``window_minutes``: HTTP 429 with a
  Swedish message that the login page shows, and a ``Retry-After`` header;
- counts a refused login (wrong password, unknown or not allowed user: everything the login
  page answers "wrong username or password") against the user and the address;
- clears the user's count on a successful login; the address's count is left as it is
  (one person's login does not let the next guesses from the same address through).

Every username is counted the same way whether the account exists or not, so the throttle
says nothing about which accounts exist. The user is keyed by the name as the authenticator
normalizes it, case-folded; the address is the client's own address behind
configurable-http-proxy (see ``client_address``).

Entra ID (OAuth) logins post no password to the hub: the hub only sees the identity
provider's answer, and guessing passwords is throttled there (Entra ID's smart lockout), so
the OAuth authenticator is not wrapped.

The counts live in the hub process's memory (moving windows from the ``limits`` package):
they start from zero when the hub restarts, and several hub replicas would each count on
their own (they would need a shared store such as Redis).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from tornado import web
from traitlets import Integer

MESSAGE = (
    "För många misslyckade inloggningsförsök. Vänta {wait} och försök igen, "
    "eller kontakta din chef."
)

#: the longest part of a username that is kept as a key (longer names share their prefix's)
MAX_KEY = 256


def minutes_text(seconds: float) -> str:
    """``"1 minut"``, ``"15 minuter"``: the wait, rounded up to whole minutes."""
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minut" if minutes == 1 else f"{minutes} minuter"


def throttled_error(seconds: float) -> web.HTTPError:
    """The 429 the login page shows (``LoginHandler`` renders it as ``login_error``)."""
    error = web.HTTPError(429, MESSAGE.format(wait=minutes_text(seconds)))
    # JupyterHub's write_error sets an HTTPError's ``headers``
    error.headers = {"Retry-After": str(max(1, math.ceil(seconds)))}  # type: ignore[attr-defined]
    return error


class FailureLimiter:
    """Failed logins per user and per address, each in a moving window.

    A limit of 0 turns that count off. The clock is ``time.time`` (the ``limits`` package
    reads it too).
    """

    def __init__(
        self, max_user_failures: int, max_address_failures: int, window_seconds: int
    ) -> None:
        if min(max_user_failures, max_address_failures) < 0 or window_seconds < 1:
            raise ValueError("limits must be >= 0 and the window at least one second")
        self.window_seconds = window_seconds
        self._user = (
            RateLimitItemPerSecond(max_user_failures, window_seconds, namespace="login-user")
            if max_user_failures
            else None
        )
        self._address = (
            RateLimitItemPerSecond(max_address_failures, window_seconds, namespace="login-address")
            if max_address_failures
            else None
        )
        # the storage sweeps expired entries on a timer thread, so it is made on first use
        self._limiter: MovingWindowRateLimiter | None = None

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            self._limiter = MovingWindowRateLimiter(MemoryStorage())
        return self._limiter

    def begin(self, user: str, address: str) -> float | None:
        """Before an attempt: ``None`` lets it go ahead, else the seconds to wait.

        An attempt that goes ahead already counts against the user (so concurrent guesses
        cannot slip past the limit) until ``succeeded`` clears it.
        """
        if self._address is not None and not self.limiter.test(self._address, address):
            return self._wait(self._address, address)
        if self._user is not None and not self.limiter.hit(self._user, user):
            return self._wait(self._user, user)
        return None

    def failed(self, address: str) -> None:
        """After a refused attempt (the user's count was taken by ``begin``)."""
        if self._address is not None:
            self.limiter.hit(self._address, address)

    def succeeded(self, user: str) -> None:
        """After a successful login: the user's failures are forgiven, the address's not."""
        if self._user is not None:
            self.limiter.clear(self._user, user)

    def _wait(self, item: RateLimitItemPerSecond, key: str) -> float:
        # reset_time: when the oldest failure in the window leaves it
        reset = self.limiter.get_window_stats(item, key).reset_time
        return max(1.0, reset - time.time())


def _normalized_ip(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # one IPv6 client holds a whole /64: count it as one address
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(request: Any, trusted: Iterable[str] = ()) -> str:
    """The address the login came from, as the throttle counts it.

    The hub listens on loopback only and is reached through configurable-http-proxy, which
    appends the address of whoever connected to it to ``X-Forwarded-For``: the last entry
    that is not a trusted proxy (``JupyterHub.trusted_downstream_ips``, e.g. a TLS proxy or
    ingress in front) is the client. Earlier entries are the client's own say and are not
    believed, and neither is ``X-Real-Ip`` (which Tornado's ``remote_ip`` would take as it
    is, though the proxy passes it on from the client unchanged). An IPv6 client is counted
    by its /64.
    """
    trusted = set(trusted)
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded:
        for candidate in reversed(forwarded.split(",")):
            if candidate.strip() not in trusted:
                break
        address = _normalized_ip(candidate)
        if address is not None:
            return address
    # no proxy in between: the TCP peer (Tornado keeps it before applying X-headers)
    context = getattr(request.connection, "context", None)
    peer = getattr(context, "_orig_remote_ip", None) or request.remote_ip or ""
    return _normalized_ip(peer) or "okänd"


class LoginThrottle(Authenticator):  # type: ignore[misc]
    """Mixin (put it first) for an authenticator that takes username and password posts."""

    max_user_failures = Integer(
        5,
        min=0,
        help="Failed logins for one username within the window before its logins are "
        "refused (0: no per-user limit).",
    ).tag(config=True)
    max_address_failures = Integer(
        20,
        min=0,
        help="Failed logins from one client address within the window before logins from "
        "it are refused (0: no per-address limit).",
    ).tag(config=True)
    window_minutes = Integer(
        15, min=1, help="The moving window the failures are counted in, in minutes."
    ).tag(config=True)

    _failure_limiter: FailureLimiter | None = None

    @property
    def failure_limiter(self) -> FailureLimiter:
        if self._failure_limiter is None:
            self._failure_limiter = FailureLimiter(
                self.max_user_failures, self.max_address_failures, self.window_minutes * 60
            )
        return self._failure_limiter

    def throttle_key(self, username: str) -> str:
        """The user as counted: normalized as the authenticator does, then case-folded."""
        try:
            name = str(self.normalize_username(username))
        except Exception:  # e.g. a lookup that fails for a name that does not exist
            name = username
        return name.casefold()[:MAX_KEY]

    def _trusted_downstream(self) -> list[str]:
        return list(getattr(self.parent, "trusted_downstream_ips", None) or [])

    async def get_authenticated_user(
        self, handler: Any, data: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        if handler is None or not data or "username" not in data:
            return await super().get_authenticated_user(handler, data)  # type: ignore[no-any-return]
        user = self.throttle_key(str(data["username"]))
        address = client_address(handler.request, self._trusted_downstream())
        limiter = self.failure_limiter
        wait = limiter.begin(user, address)
        if wait is not None:
            self.log.warning("Login throttled for %r from %s (%.0f s)", user[:32], address, wait)
            raise throttled_error(wait)
        authenticated = await super().get_authenticated_user(handler, data)
        if authenticated is None:
            limiter.failed(address)
        else:
            limiter.succeeded(user)
        return authenticated  # type: ignore[no-any-return]


class ThrottledSharedPasswordAuthenticator(LoginThrottle, SharedPasswordAuthenticator):  # type: ignore[misc]
    """The demo login (one shared password) with login throttling."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> Any:
        # JupyterHub compares with secrets.compare_digest, which raises on text that is not
        # ASCII: a wrong password with å, ä or ö gave a server error instead of "wrong
        # password". Such a password cannot match an ASCII one, and a non-ASCII shared
        # password would fail that comparison for everyone.
        if not str(data.get("password", "")).isascii():
            return None
        return await super().authenticate(handler, data)


def __getattr__(name: str) -> Any:
    # the LDAP authenticator is an optional extra: its throttled class is made on demand
    # (``c.JupyterHub.authenticator_class = "omsorgslyft.hub.throttle.ThrottledLDAPAuthenticator"``)
    if name == "ThrottledLDAPAuthenticator":
        from ldapauthenticator import LDAPAuthenticator

        cls = type(
            name,
            (LoginThrottle, LDAPAuthenticator),
            {"__doc__": "LDAP login with login throttling.", "__module__": __name__},
        )
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
