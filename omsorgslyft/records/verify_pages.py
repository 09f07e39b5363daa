"""The public page that verifies a certificate: no login, as little personal data as works.

``intyg`` is a form for typing a code; ``intyg/<code>`` (the QR code's address) says
"Intyget är giltigt" with first name and initial, module, version, pass day and valid-until
day, all from the register today, or "Intyget gäller inte", the same words for a code that
was never issued, one that has expired, been superseded or belongs to someone erased.
A code whose check character disagrees is "felskriven" (anyone can compute that much).

Guessing is pointless (70 random bits: :mod:`omsorgslyft.records.certificates`), and
still limited: an address (an IPv6 client by its /64) that has looked up
``MAX_FAILURES`` well-formed codes that are not valid within ``WINDOW_MINUTES`` is refused
(429) until the oldest leaves the window. The count lives in the service's memory.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment
from jupyterhub.utils import url_path_join

from omsorgslyft.dates import long_date
from omsorgslyft.hub.throttle import FailureLimiter, client_address, minutes_text
from omsorgslyft.records import certificates
from omsorgslyft.records.handlers import Private, Records

MAX_FAILURES = 20
WINDOW_MINUTES = 15
EXAMPLE = "K7QH3-MZPX9-4TAB5"


class VerifyBase(Private):
    """No hub login, nothing kept by a cache, not for search engines."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Robots-Tag", "noindex, nofollow")
        self.set_header("Referrer-Policy", "no-referrer")  # the address holds the code

    @property
    def records(self) -> Records:
        return self.settings["records"]  # type: ignore[no-any-return]

    @property
    def limiter(self) -> FailureLimiter:
        found = self.settings.get("certificate_limiter")
        if found is None:
            found = FailureLimiter(0, MAX_FAILURES, WINDOW_MINUTES * 60)
            self.settings["certificate_limiter"] = found
        return found

    def form_url(self) -> str:
        return str(url_path_join(self.settings["prefix"], "intyg"))

    def show(self, status: int, **context: Any) -> None:
        env: Environment = self.settings["jinja"]
        values: dict[str, Any] = {
            "outcome": "form",
            "code": "",
            "form_url": self.form_url(),
            "example": EXAMPLE,
            "long_date": long_date,
        }
        values.update(context)
        html = env.get_template("verify.html").render(**values)
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.show(status_code, outcome="error")


class VerifyFormHandler(VerifyBase):
    """The form; a typed code is sent on to its own address."""

    def get(self) -> None:
        typed = self.get_argument("kod", "")[:100]
        if not typed.strip():
            self.show(200)
            return
        code = certificates.parse_code(typed)
        if code is None:
            self.show(200, outcome="malformed", code=typed)
            return
        self.redirect(url_path_join(self.form_url(), certificates.pretty(code)))


class VerifyHandler(VerifyBase):
    def get(self, typed: str) -> None:
        code = certificates.parse_code(typed)
        if code is None:
            self.show(200, outcome="malformed", code=typed)
            return
        shown = certificates.pretty(code)
        address = client_address(self.request)
        wait = self.limiter.begin("", address)
        if wait is not None:
            self.set_header("Retry-After", str(max(1, math.ceil(wait))))
            self.show(429, outcome="limited", code=shown, wait=minutes_text(wait))
            return
        records = self.records
        found = certificates.verify(records.config, records.store, code, records.today())
        if found is None:
            self.limiter.failed(address)
            # 200 either way: the status would tell no more than the words, and a scanner
            # app shows the page rather than its own error
            self.show(200, outcome="invalid", code=shown, checked_on=records.today())
            return
        self.show(200, outcome="valid", code=shown, cert=found)
