"""HTTP handlers of the learn service: pages for people, a small API for page kernels.

The handlers know the service only through :class:`LearnService` (in the application's
settings as ``omsorgslyft``), not the application class.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import quote

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from omsorgslyft.answers import KINDS, InvalidAnswer, validate_answer
from omsorgslyft.dates import add_months
from omsorgslyft.learn.catalog import Catalog
from omsorgslyft.learn.certificate import certificate_pdf
from omsorgslyft.learn.grading_client import GradingClient, GradingError, ServiceClient
from omsorgslyft.learn.kernels import LearnerKernels
from omsorgslyft.learn.pages import home_page
from omsorgslyft.learn.preheat import BindRefused, KernelPool
from omsorgslyft.learn.security import BASE_POLICY, HOME_POLICY, NO_STORE, page_policy
from omsorgslyft.learn.store import AnswerStore, PageSession

#: the largest body the page API reads (an answer; reflections are the longest)
MAX_API_BODY = 64 * 1024
#: the largest bind request a preheated kernel sends (its id, the time, a signature)
MAX_BIND_BODY = 1024

EXPIRED = (
    "Sidan har varit öppen för länge. Ladda om sidan för att fortsätta – dina svar är sparade."
)


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

    @property
    def hub_home_url(self) -> str: ...


def latest_pass(results: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    passes = [r for r in results if r.get("passed") and r.get("version") == version]
    return passes[-1] if passes else None


RENEW = frozenset({"förfaller inom 60 dagar", "förfallen"})


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


class HomeHandler(LearnHandler):
    @property
    def content_security_policy(self) -> str:
        return HOME_POLICY

    @web.authenticated
    async def get(self) -> None:
        user = self.current_user
        rows = module_status(self.app, user.username, await own_records(self.app, user.username))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(home_page(user.username, rows, self.base_url, self.app.hub_home_url))


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
        if preheated is None:  # none waiting: start a kernel for this page
            async for html in super().get_generator(path=path):
                yield html
            return
        self.__dict__["csp_nonce"] = preheated.nonce
        self.set_header("Content-Security-Policy", self.content_security_policy)
        self.set_header("Content-Type", "text/html")
        async for html in preheated.html():
            yield html


class ModuleRedirectHandler(LearnHandler):
    @web.authenticated
    def get(self, module_id: str) -> None:
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
    @web.authenticated
    def get(self, module_id: str) -> None:
        info = self.app.catalog.get(module_id)
        if info is None:
            raise web.HTTPError(404)
        learner = self.current_user.username
        passed = latest_pass(self.app.store.results(learner, module_id), info.version)
        if passed is None:
            raise web.HTTPError(404, "Inget godkänt resultat.")
        when = datetime.fromisoformat(passed["graded_at"]).date()
        pdf = certificate_pdf(
            name=getattr(self.current_user, "display_name", "") or learner,
            module_title=info.title,
            version=info.version,
            passed_on=when,
            valid_until=add_months(when, info.validity_months),
            score=f"{passed['score']:g} av {passed['max_score']:g} poäng",
        )
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="intyg-{module_id}.pdf"')
        self.finish(pdf)


class KernelApiHandler(web.RequestHandler):
    """What the two APIs called by page kernels (never by a browser) share: JSON replies,
    no cookies, nothing cached; a body read in chunks up to ``max_body``."""

    max_body = 0
    _body: bytearray

    def check_xsrf_cookie(self) -> None:  # the kernel proves itself; no cookies involved
        return

    @property
    def app(self) -> LearnService:
        return self.settings["omsorgslyft"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", BASE_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", NO_STORE)

    def reply(self, status: int, data: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False))

    def data_received(self, chunk: bytes) -> None:
        if len(self._body) + len(chunk) > self.max_body:
            raise web.HTTPError(413)
        self._body += chunk


@web.stream_request_body
class PageApiHandler(KernelApiHandler):
    """Called by a module page's kernel with its capability token (never by a browser).

    The token and the declared length are checked when the headers have arrived
    (``prepare``), before any of the body is read: a request without a valid token, or
    longer than ``MAX_API_BODY``, is answered and the connection closed unread.
    """

    session: PageSession | None = None
    max_body = MAX_API_BODY

    def prepare(self) -> None:
        self._body = bytearray()
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        state, session = (
            self.app.store.check_session(token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else ("unknown", None)
        )
        if session is None:
            message = EXPIRED if state == "expired" else "Ogiltig eller saknad sidnyckel."
            self.reply(401, {"error": message})
            return
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_API_BODY):
            self.reply(413, {"error": "För stort svar."})
            return
        # a body without a length (chunked) is cut off by the server at the same size
        set_max = getattr(self.request.connection, "set_max_body_size", None)
        if set_max is not None:
            set_max(MAX_API_BODY)
        self.session = session

    async def post(self, action: str) -> None:
        session = self.session
        if session is None:  # prepare has answered
            return
        try:
            body = json.loads(bytes(self._body) or b"{}")
        except ValueError:
            self.reply(400, {"error": "Svaret går inte att läsa."})
            return
        if not isinstance(body, dict):
            self.reply(400, {"error": "Svaret går inte att läsa."})
            return
        if action == "load":
            self.reply(200, self._load(session))
        elif action == "save":
            self._save(session, body)
        else:
            await self._submit(session)

    def _load(self, session: PageSession) -> dict[str, Any]:
        return page_state(self.app, session)

    def _save(self, session: PageSession, body: dict[str, Any]) -> None:
        kind, key, value = body.get("kind"), body.get("key"), body.get("value")
        info = self.app.catalog.get(session.module)
        if info is None or info.version != session.version:
            self.reply(409, {"error": "Modulen har uppdaterats. Ladda om sidan."})
            return
        if kind not in KINDS or not isinstance(key, str):
            self.reply(400, {"error": "Okänd sorts svar."})
            return
        try:
            clean = validate_answer(info.blocks, kind, key, value)
        except InvalidAnswer as exc:
            self.reply(400, {"error": f"Ogiltigt svar: {exc}."})
            return
        self.app.store.save(session, kind, key, clean)
        self.reply(200, {"saved": datetime.now(UTC).isoformat()})

    async def _submit(self, session: PageSession) -> None:
        store = self.app.store
        answers = {k: v for k, v in store.load(session)["svar"].items() if v not in (None, [], {})}
        done = [
            r
            for r in store.results(session.learner, session.module)
            if r["version"] == session.version
        ]
        attempt = len(done) + 1
        sid = hashlib.sha256(
            f"{session.learner}\x1f{session.module}\x1f{session.version}\x1f{attempt}".encode()
        ).hexdigest()[:40]
        try:
            reply = await self.app.grading.submit(
                sid, session.learner, session.module, session.version, answers
            )
        except GradingError as exc:
            self.reply(
                exc.status if exc.status in (400, 404, 409, 413) else 502, {"error": exc.message}
            )
            return
        if reply["status"] == "klar" and reply["result"]:
            store.record_result(
                session.learner, session.module, session.version, reply["id"], reply["result"]
            )
            self.reply(200, {"status": "klar", "result": reply["result"]})
        elif reply["status"] == "fel":
            self.reply(
                502, {"error": (reply.get("result") or {}).get("error", "Rättningen misslyckades.")}
            )
        else:
            self.reply(202, {"status": reply["status"], "id": reply["id"]})


def page_state(app: LearnService, session: PageSession) -> dict[str, Any]:
    """What a page's kernel loads: the learner's saved state and latest result."""
    results = [
        r
        for r in app.store.results(session.learner, session.module)
        if r["version"] == session.version
    ]
    latest = results[-1] if results else None
    if latest and session.module in app.renewals.get(session.learner, set()):
        latest = None  # the pass is running out: show the knowledge check again
    return {"state": app.store.load(session), "result": latest}


@web.stream_request_body
class PageBindHandler(KernelApiHandler):
    """A preheated page's kernel asks whose page it is (never a browser).

    The request names the kernel and the time, signed with the kernel's connection key
    (``omsorgslyft.runtime.remote.bind_signature``). It is held until the kernel is handed
    to a learner, then answered, once, with that learner's page token and saved state
    (``omsorgslyft.learn.preheat.KernelPool.bind``); a forged, stale or second request,
    or one for a kernel the pool does not hold, is refused. Bodies over
    ``MAX_BIND_BODY`` are refused unread.
    """

    _gone: asyncio.Future[None] | None = None
    max_body = MAX_BIND_BODY

    def prepare(self) -> None:
        self._body = bytearray()
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BIND_BODY):
            self.reply(413, {"error": "För stor fråga."})
            return
        set_max = getattr(self.request.connection, "set_max_body_size", None)
        if set_max is not None:
            set_max(MAX_BIND_BODY)

    def on_connection_close(self) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    async def post(self) -> None:
        if self._finished:  # prepare has answered
            return
        try:
            body = json.loads(bytes(self._body))
            kernel, when, signature = body["kernel"], body["time"], body["signature"]
        except (ValueError, TypeError, KeyError):
            self.reply(400, {"error": "Frågan går inte att läsa."})
            return
        if not (isinstance(kernel, str) and isinstance(when, int) and isinstance(signature, str)):
            self.reply(400, {"error": "Frågan går inte att läsa."})
            return
        pool = self.app.pool
        if pool is None:
            self.reply(403, {"error": "Okänd eller felaktigt signerad kärna."})
            return
        self._gone = asyncio.get_running_loop().create_future()
        try:
            ticket = await pool.bind(kernel, when, signature, self._gone)
        except BindRefused as exc:
            if not self._gone.done():
                self.reply(exc.status, {"error": exc.reason})
            return
        session = PageSession(ticket.learner, ticket.module, ticket.version)
        self.reply(200, {"token": ticket.token, **page_state(self.app, session)})
