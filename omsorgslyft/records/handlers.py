"""What every records page shares: the service's state and the base handlers.

``Records`` holds the configuration, the store, a short cache and the pending imports.
``Private`` is the one place for what every response of the service carries: no cache may
keep it (``Cache-Control: no-store``: HR pages, the matrix, employee pages, exports and the
API are all personal data) and every cookie it sets (the OAuth state, the session, the
XSRF token) is ``SameSite=Lax``. ``Base`` (every page, export and API route) and the OAuth
callback derive from it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from jupyterhub.services.auth import (
    HubOAuth,
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
)
from jupyterhub.utils import url_path_join
from tornado import web

from omsorgslyft.hub import roles
from omsorgslyft.hub.header import CSS as HEADER_CSS
from omsorgslyft.hub.header import header_html
from omsorgslyft.records.charts import pct
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.filters import Filters
from omsorgslyft.records.hubsync import HubClient, sync_hub
from omsorgslyft.records.model import CompetenceRecord, Status
from omsorgslyft.records.reserved import ALWAYS_RESERVED, folded
from omsorgslyft.records.roster import Roster
from omsorgslyft.records.store import ImportPlan, RecordsStore

log = logging.getLogger("omsorgslyft.records")

HR_SCOPE = roles.HR_SCOPE
STATS_SCOPE = roles.STATS_SCOPE
OWN_SCOPE = roles.OWN_RECORDS_SCOPE
MANAGER_FILTER = HR_SCOPE + "!group="
MAX_UPLOAD = 55 * 1024 * 1024  # above the roster reader's own 50 MB limit (HR only)
MAX_BODY = 64 * 1024  # every other request body, read or refused before any handler
PAGE_SIZE = 100
CACHE_SECONDS = 20.0
PENDING_SECONDS = 30 * 60

STATUS_CLASS = {
    Status.NOT_STARTED: "s-todo",
    Status.IN_PROGRESS: "s-doing",
    Status.PASSED: "s-ok",
    Status.EXPIRING: "s-soon",
    Status.EXPIRED: "s-expired",
    Status.OVERDUE: "s-late",
}


@dataclass(frozen=True)
class Access:
    """What one person may see in the register: HR every unit (and the GDPR actions, the
    import and the reminders); a manager (enhetschef) only the units that both the hub's
    scope filters (``custom:omsorgslyft:hr!group=enhet:…``) and today's roster give them."""

    hr: bool
    units: frozenset[str] = frozenset()

    def sees(self, unit: str) -> bool:
        return self.hr or unit in self.units

    @property
    def any(self) -> bool:
        return self.hr or bool(self.units)


def access_of(scopes: Iterable[str], managed: Iterable[str]) -> Access:
    """``scopes``: the person's token scopes; ``managed``: the units the roster says they
    manage today. A filtered scope without the roster's word (or the other way round)
    gives nothing: a manager who has left a unit loses it at once, not at the next login."""
    scopes = set(scopes)
    if HR_SCOPE in scopes:
        return Access(hr=True)
    groups = {s.removeprefix(MANAGER_FILTER) for s in scopes if s.startswith(MANAGER_FILTER)}
    return Access(hr=False, units=frozenset(u for u in managed if roles.unit_group(u) in groups))


@dataclass
class PendingImport:
    plan: ImportPlan
    roster: Roster
    filename: str
    by: str
    created: float


class Records:
    """State shared by the handlers: configuration, store, a short cache, pending imports."""

    def __init__(
        self,
        config: RecordsConfig,
        hub: HubClient | None = None,
        always_reserved: tuple[str, ...] = ALWAYS_RESERVED,
    ) -> None:
        self.config = config
        self.store: RecordsStore = config.store()
        self.hub = hub
        self.always_reserved = always_reserved
        self._cache: tuple[float, date, list[CompetenceRecord]] | None = None
        self.pending: dict[str, PendingImport] = {}
        #: the platform's public address (links in e-mails and on certificates)
        self.public_url = "http://127.0.0.1:8000"

    def today(self) -> date:
        return date.today()

    def all(self) -> list[CompetenceRecord]:
        now, today = time.monotonic(), self.today()
        if self._cache and self._cache[1] == today and now - self._cache[0] < CACHE_SECONDS:
            return self._cache[2]
        records = compute_records(self.store, self.config.courses, self.config.pass_marks, today)
        self._cache = (now, today, records)
        return records

    def for_learner(self, username: str) -> list[CompetenceRecord]:
        return compute_records(
            self.store, self.config.courses, self.config.pass_marks, self.today(), username
        )

    def changed(self) -> None:
        self._cache = None

    async def sync(self) -> None:
        if self.hub is None:
            return
        try:
            await sync_hub(self.hub, self.store.employees(), self.today(), self.always_reserved)
        except Exception:
            log.exception("hub sync failed (will try again)")

    async def reserved(self) -> frozenset[str]:
        """Accounts no roster row may name: the always-reserved names, and the hub's admins,
        trainers and HR (asked now; raises if the hub does not answer)."""
        if self.hub is None:
            return folded(self.always_reserved)
        return await self.hub.reserved(self.always_reserved)

    def keep_pending(self, pending: PendingImport) -> str:
        now = time.monotonic()
        for key in [k for k, p in self.pending.items() if now - p.created > PENDING_SECONDS]:
            del self.pending[key]
        key = secrets.token_urlsafe(16)
        self.pending[key] = pending
        return key


class Private(web.RequestHandler):
    """Headers of every response with personal data, and SameSite on every cookie."""

    def set_default_headers(self) -> None:
        # tornado calls this for every response, errors and redirects included
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Every cookie, also the ones HubOAuth and the XSRF check set or clear (they all
        come through here): ``SameSite=Lax``, or ``Strict`` if asked for. Not ``Strict``
        for the OAuth cookies: a login that begins on another site (a link in an e-mail,
        the municipality's Entra ID login) returns through a cross-site redirect chain,
        and browsers withhold strict cookies there, so the state check would fail."""
        asked = ""
        for key in [k for k in kwargs if k.lower() == "samesite"]:
            asked = str(kwargs.pop(key) or "")
        super().set_cookie(
            name, value, *args, samesite="Strict" if asked.lower() == "strict" else "Lax", **kwargs
        )


class Base(HubOAuthenticated, Private):  # type: ignore[misc]
    """A page or API route of the register. ``hub_scopes`` is what the hub must have given
    the person (a manager's filtered HR scope counts); ``needs`` what this service then
    asks: ``"register"`` (HR, or a manager with a unit), ``"hr"`` (the unfiltered HR scope:
    GDPR, import, reminders) or ``""`` (the handler decides)."""

    hub_scopes = frozenset({HR_SCOPE})
    needs = "register"
    tool = "records"  # the header's current tool
    _access: Access | None = None

    def prepare(self) -> None:
        super().prepare()
        if getattr(self, "_stream_request_body", False) and self.request.method == "GET":
            # a body-streaming handler that refuses in prepare() closes the connection (its
            # body is never read), and the proxy's next request on it fails: such a
            # handler's get() asks for itself
            return
        self._permitted()

    def _permitted(self) -> None:
        if not self.current_user:
            return  # @web.authenticated sends the person to the login
        if self.needs == "hr" and not self.access().hr:
            raise web.HTTPError(403, "needs the unfiltered HR scope")
        if self.needs == "register" and not self.access().any:
            raise web.HTTPError(403, "neither HR nor the manager of a unit")

    def check_hub_user(self, model: dict[str, Any]) -> dict[str, Any]:
        """One of ``hub_scopes``, filtered or not (JupyterHub's own check wants it unfiltered:
        a manager's ``custom:omsorgslyft:hr!group=enhet:…`` would not count). What a filter
        allows is then this service's to apply (``access``, ``visible``)."""
        have = model.get("scopes", [])
        if any(s == want or s.startswith(want + "!") for s in have for want in self.hub_scopes):
            model.setdefault("kind", "user")
            return model
        log.warning("not allowing %s: none of the scopes %s", model.get("name"), self.hub_scopes)
        raise UserNotAllowed(model)

    def access(self) -> Access:
        if self._access is None:
            user = self.current_user
            scopes = user.get("scopes", []) if isinstance(user, dict) else []
            managed = self.records.store.managers(self.records.today()).get(
                str(user.get("name", "")) if isinstance(user, dict) else "", ()
            )
            self._access = access_of(scopes, managed)
        return self._access

    def visible(self, records: Sequence[CompetenceRecord]) -> list[CompetenceRecord]:
        """The records of the units this person may see (all of them for HR)."""
        access = self.access()
        if access.hr:
            return list(records)
        return [r for r in records if r.employee.unit in access.units]

    @property
    def hub_auth(self) -> HubOAuth:
        auth: HubOAuth = self.settings["hub_auth"]
        return auth

    @property
    def records(self) -> Records:
        return self.settings["records"]  # type: ignore[no-any-return]

    @property
    def username(self) -> str:
        user = self.current_user
        assert isinstance(user, dict)
        return str(user["name"])

    def has_scope(self, scope: str) -> bool:
        user = self.current_user
        return bool(user) and bool(self.hub_auth.check_scopes({scope}, user))

    def url(self, *parts: str, **query: str) -> str:
        path: str = url_path_join(self.settings["prefix"], *parts)
        return path + ("?" + urlencode(query) if query else "")

    def render_page(self, template: str, title: str, **context: Any) -> None:
        env: Environment = self.settings["jinja"]
        user = self.current_user
        role_names = user.get("roles", []) if isinstance(user, dict) else []
        logout = url_path_join(self.settings["hub_prefix"], "logout")
        access = self.access()
        html = env.get_template(template).render(
            title=title,
            user=self.username,
            url=self.url,
            xsrf_form_html=self.xsrf_form_html,
            can_hr=access.hr,
            managed_units=sorted(access.units),
            can_stats=self.has_scope(STATS_SCOPE),
            header=header_html(
                role_names, self.tool, self.username, self.settings["base_url"], logout
            ),
            header_css=HEADER_CSS,
            logout=logout,
            home=url_path_join(self.settings["hub_prefix"], "home"),
            status_class=STATUS_CLASS,
            pct=pct,
            **context,
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if getattr(self, "_stream_request_body", False) and self.request.method == "POST":
            # refused before its body was read (an upload): tornado closes the connection
            # after this reply, so say so, or the proxy sends its next request down it
            self.set_header("Connection", "close")
        messages = {
            400: "Begäran gick inte att läsa.",
            403: "Du har inte behörighet till den här sidan.",
            404: "Sidan finns inte.",
            413: "Filen är för stor.",
        }
        message = messages.get(status_code, "Något gick fel. Försök igen om en stund.")
        if "/api/" in self.request.path:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"error": message}, ensure_ascii=False))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{status_code} – Omsorgslyft</title></head><body><main>"
            f"<h1>{message}</h1><p>Felkod {status_code}.</p></main></body></html>"
        )

    def filters(self) -> Filters:
        return Filters.from_query({k: self.get_argument(k, "") for k in Filters().query_keys()})


class OAuthCallback(HubOAuthCallbackHandler, Private):  # type: ignore[misc]
    """The hub's OAuth callback, with the one HubOAuth that holds this service's states
    (it sets the session cookie: ``Private`` makes it SameSite and the reply no-store)."""

    @property
    def hub_auth(self) -> HubOAuth:
        auth: HubOAuth = self.settings["hub_auth"]
        return auth


class Stylesheet(web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/css; charset=utf-8")
        self.set_header("Cache-Control", "max-age=3600")
        self.finish((Path(__file__).parent / "templates" / "records.css").read_bytes())
