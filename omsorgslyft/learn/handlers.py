"""HTTP handlers of the learn service: pages for people, a small API for page kernels.

The handlers know the service only through :class:`LearnService` (in the application's
settings as ``omsorgslyft``), not the application class.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from concurrent.futures import Executor
from datetime import date, datetime
from functools import cached_property
from html import escape
from typing import Any, Protocol
from urllib.parse import quote

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from omsorgslyft.dates import add_months
from omsorgslyft.learn.catalog import Catalog
from omsorgslyft.learn.certificate import certificate_pdf
from omsorgslyft.learn.grading_client import GradingClient, GradingError, ServiceClient
from omsorgslyft.learn.kernels import WATCH, LearnerKernels, PageWatch, until_gone
from omsorgslyft.learn.pages import CSS, home_page
from omsorgslyft.learn.preheat import KernelPool
from omsorgslyft.learn.security import (
    BASE_POLICY,
    HOME_POLICY,
    NO_STORE,
    page_policy,
    policy,
    sha256_source,
)
from omsorgslyft.learn.shards import prefix as shard_prefix
from omsorgslyft.learn.shards import shard_of
from omsorgslyft.learn.store import AnswerStore


class LearnService(Protocol):
    """What the handlers use of the learn service."""

    store: AnswerStore
    catalog: Catalog
    grading: GradingClient
    records: ServiceClient | None
    #: modules whose pass is due for renewal, per learner (from the records service)
    renewals: dict[str, set[str]]
    #: preheated module pages (None: every page starts its own kernel)
    pool: KernelPool | None
    #: this process's shard and the number of shards (omsorgslyft.learn.shards)
    shard: int
    shards: int
    #: where the page API's database work runs (LearnApp.store_threads), off the loop
    store_pool: Executor

    @property
    def hub_home_url(self) -> str: ...


def latest_pass(results: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    passes = [r for r in results if r.get("passed") and r.get("version") == version]
    return passes[-1] if passes else None


RENEW = frozenset({"förfaller inom 60 dagar", "förfallen"})
CERTIFICATE_UNAVAILABLE = (
    "Intyget kan inte skapas just nu, eftersom kompetensregistret inte svarar. "
    "Försök igen om en stund."
)


async def own_records(app: LearnService, learner: str) -> dict[str, Any] | None:
    """The learner's competence records from the records service (None if unavailable)."""
    if app.records is None:
        return None
    try:
        data = await app.records.get(f"api/learners/{quote(learner, safe='')}/records")
    except GradingError:
        return None
    return data if isinstance(data, dict) and data.get("in_roster") else None


def module_status(
    app: LearnService, learner: str, records: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each module with the learner's status; with records, the required ones first, with
    due dates and validity as HR sees them."""
    rows = _local_status(app, learner)
    if records is None:
        return rows
    for row in rows:
        # the register issues certificates, and only for the people in its roster
        row["certificate"] = bool(records.get("in_roster"))
    by_module = {r["module"]: r for r in records.get("records", [])}
    app.renewals[learner] = {m for m, r in by_module.items() if r["status"] in RENEW}
    for row in rows:
        record = by_module.get(row["id"])
        row["required"] = record is not None
        if record is None:
            continue
        row["status"] = record["status"]
        row["due"] = record["due"]
        for key in ("passed_on", "valid_until"):
            if record[key]:
                row[key] = record[key]
    rows.sort(key=lambda r: not r["required"])
    return rows


def _local_status(app: LearnService, learner: str) -> list[dict[str, Any]]:
    started = app.store.started_modules(learner)
    rows = []
    for info in app.catalog.for_learner(learner):
        results = app.store.results(learner, info.id)
        passed = latest_pass(results, info.version)
        row: dict[str, Any] = {
            "id": info.id,
            "title": info.title,
            "minutes": info.minutes,
            "summary": info.summary,
            "version": info.version,
            "status": "ej påbörjad",
        }
        if passed:
            when = datetime.fromisoformat(passed["graded_at"]).date()
            row |= {
                "status": "godkänd",
                "passed_on": when.isoformat(),
                "valid_until": add_months(when, info.validity_months).isoformat(),
                "score": passed["score"],
                "max_score": passed["max_score"],
            }
        elif info.id in started or results:
            row["status"] = "pågår"
        rows.append(row)
    return rows


class LearnHandler(JupyterHandler):
    """Our pages for people: personal (never stored by a cache), nothing to run or frame."""

    @property
    def app(self) -> LearnService:
        return self.settings["omsorgslyft"]  # type: ignore[no-any-return]

    @property
    def content_security_policy(self) -> str:
        return BASE_POLICY

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", NO_STORE)

    def on_finish(self) -> None:
        if self.app.pool is not None:
            self.app.pool.touch()  # a learner is about: preheat later


def sent_to_own_shard(handler: web.RequestHandler, service: LearnService) -> bool:
    """Redirect a learner whom another shard serves to the same page there; True if sent.

    Any shard could serve them (the answers are in the shared store), but one learner's
    kernels, and the limit on them, belong in one process."""
    if service.shards <= 1:
        return False
    own = shard_of(handler.current_user.username, service.shards)
    if own == service.shard:
        return False
    base = handler.settings["base_url"]
    rest = handler.request.uri.removeprefix(base) if handler.request.uri else ""
    hub_base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
    handler.redirect(shard_prefix(hub_base, own) + rest)
    return True


class HomeHandler(LearnHandler):
    @property
    def content_security_policy(self) -> str:
        return HOME_POLICY

    @web.authenticated
    async def get(self) -> None:
        if sent_to_own_shard(self, self.app):
            return
        user = self.current_user
        rows = module_status(self.app, user.username, await own_records(self.app, user.username))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        roles = (getattr(user, "hub_user", None) or {}).get("roles", [])
        self.finish(home_page(user.username, rows, self.base_url, self.app.hub_home_url, roles))


class ModulePageHandler(TornadoVoilaHandler):  # type: ignore[misc]
    """Voilà's page for a module, with a policy that lets only its own scripts run.

    Every inline script of the template carries the request's nonce (the prelaunch hook
    hands it to the template in the notebook's metadata). A preheated page, if the pool
    has one, was rendered with a nonce of its own, used for this one response.
    """

    @cached_property
    def csp_nonce(self) -> str:
        return secrets.token_urlsafe(18)

    @property
    def content_security_policy(self) -> str:
        return page_policy(self.csp_nonce)

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", NO_STORE)

    @property
    def pool(self) -> KernelPool | None:
        service: LearnService = self.settings["omsorgslyft"]
        return service.pool

    @web.authenticated
    async def get(self, path: str | None = None) -> None:
        if sent_to_own_shard(self, self.settings["omsorgslyft"]):
            return
        pool = self.pool
        with pool.busy() if pool is not None else contextlib.nullcontext():
            await super().get(path)

    async def get_generator(self, path: str | None = None) -> Any:
        pool = self.pool
        preheated = None
        plain = (
            self.get_argument("template", None) is None and self.get_argument("theme", None) is None
        )
        if pool is not None and path and plain:
            preheated = await pool.hand_out(path, self.current_user.username)
        # the page ends when its kernel is gone, even in the middle (kernels.until_gone)
        watch = PageWatch()
        try:
            if preheated is None:  # none waiting: start a kernel for this page
                WATCH.set(watch)  # the kernel started for this page is watched
                pages = super().get_generator(path=path)
            else:
                watch.attach(self.kernel_manager, preheated.kernel_id, started=True)
                self.__dict__["csp_nonce"] = preheated.nonce
                self.set_header("Content-Security-Policy", self.content_security_policy)
                self.set_header("Content-Type", "text/html")
                pages = preheated.html()
            sent = False
            async for html in until_gone(pages, watch):
                if html is None:
                    self.log.info(
                        "The page of %s ended before it was rendered: its kernel %s stopped",
                        self.current_user.username,
                        watch.kernel_id,
                    )
                    yield self.closed(sent)
                    return
                sent = True
                yield html
        finally:
            WATCH.set(None)

    def closed(self, sent: bool) -> str:
        """What ends a page whose kernel stopped before it was rendered: the rest of the
        page (``sent``: its beginning was sent), or a page of its own."""
        text = (
            "<p><strong>Sidan stängdes innan den hann laddas klart.</strong> Det händer när "
            "du öppnar fler moduler, eller samma modul igen, i andra flikar. Ladda om sidan "
            "för att fortsätta. Allt du har sparat finns kvar.</p>"
        )
        if not sent:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            return (
                '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>Sidan stängdes – Omsorgslyft</title><style>{CSS}</style></head>"
                f'<body><main id="innehall"><div id="ol-closed" role="alert">{text}</div>'
                '<p><a class="ol-button" href="">Ladda om sidan</a></p></main></body></html>'
            )
        # the cells so far are in the hidden <main>: the note goes after it, and the
        # "loading" line goes
        return (
            f'</main><div id="ol-closed" class="ol-lost" role="alert">{text}'
            '<p><a class="ol-reload" href="" style="display: inline-block; '
            'text-decoration: none">Ladda om sidan</a></p></div>'
            f'<script nonce="{self.csp_nonce}">(function () {{ var e = '
            'document.getElementById("loading"); if (e) { e.parentNode.removeChild(e); } '
            "})();</script></body></html>\n"
        )


class ModuleRedirectHandler(LearnHandler):
    @web.authenticated
    def get(self, module_id: str) -> None:
        if sent_to_own_shard(self, self.app):
            return
        info = self.app.catalog.get(module_id)
        if info is None:
            raise web.HTTPError(404)
        self.redirect(url_path_join(self.base_url, "voila/render", info.notebook))


class PageSocketHandler(VoilaKernelWebsocketHandler):  # type: ignore[misc]
    """A page's kernel websocket, closed when the kernel stops (culled, or stopped for a
    newer page): the page then says it is no longer connected (the template's script)."""

    _unwatch: Any = None

    async def open(self, kernel_id: str) -> None:
        await super().open(kernel_id)
        manager = self.kernel_manager
        if isinstance(manager, LearnerKernels):
            self._unwatch = manager.when_gone(kernel_id, self._kernel_gone)

    def _kernel_gone(self) -> None:
        self.close(1001, "Kernel stopped")

    def on_close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
        super().on_close()


class MyTrainingHandler(LearnHandler):
    @web.authenticated
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        name = self.current_user.username
        rows = module_status(self.app, name, await own_records(self.app, name))
        self.finish(json.dumps(rows, ensure_ascii=False))


class CertificateHandler(LearnHandler):
    """The learner's certificate of a module, as the records service issues it (one source
    for validity: the register). Not valid there, or not in the roster: 404 with the
    register's words; the register out of reach: 503."""

    @property
    def content_security_policy(self) -> str:
        return policy(style_src=sha256_source(CSS))

    @web.authenticated
    async def get(self, module_id: str) -> None:
        if self.app.catalog.get(module_id) is None:
            raise web.HTTPError(404)
        if self.app.records is None:
            self.refuse(503, CERTIFICATE_UNAVAILABLE)
            return
        learner = quote(self.current_user.username, safe="")
        try:
            # the client's own call: it has no post() of its own
            cert = await self.app.records._call(
                "POST", f"api/learners/{learner}/certificates/{module_id}", {}
            )
        except GradingError as exc:
            if exc.status == 404:
                self.refuse(404, exc.message)
            else:
                self.refuse(503, CERTIFICATE_UNAVAILABLE)
            return
        score = ""
        if cert.get("score") is not None and cert.get("max_score"):
            score = f"{cert['score']:g} av {cert['max_score']:g} poäng"
        pdf = certificate_pdf(
            name=cert["name"],
            module_title=cert["module_title"],
            version=int(cert["version"]),
            passed_on=date.fromisoformat(cert["passed_on"]),
            valid_until=date.fromisoformat(cert["valid_until"]),
            score=score,
            code=cert["code"],
            verify_url=cert["url"],
        )
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="intyg-{module_id}.pdf"')
        self.finish(pdf)

    def refuse(self, status: int, message: str) -> None:
        """A small page in Swedish instead of a PDF."""
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        back = escape(self.base_url)
        self.finish(
            '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Inget intyg – Omsorgslyft</title><style>{CSS}</style></head><body>"
            '<main id="innehall"><h1>Inget intyg</h1>'
            f"<p>{escape(message)}</p>"
            f'<p><a class="ol-button" href="{back}">Tillbaka till Mina utbildningar</a></p>'
            "</main></body></html>"
        )
