"""The small API that module pages' kernels call (never a browser).

* ``api/page/(load|save|submit|attempt)``: with the page's capability token: the
  learner's saved state, one saved answer, Lämna in, and the next attempt after a failed
  one (:mod:`omsorgslyft.learn.attempts`);
* ``api/page/bind``: a preheated page's kernel asks whose page it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from tornado import web

from omsorgslyft.answers import KINDS, InvalidAnswer, validate_answer
from omsorgslyft.learn import attempts
from omsorgslyft.learn.grading_client import GradingError
from omsorgslyft.learn.handlers import LearnService
from omsorgslyft.learn.preheat import BindRefused
from omsorgslyft.learn.security import BASE_POLICY, NO_STORE
from omsorgslyft.learn.store import PageSession

#: the largest body the page API reads (an answer; reflections are the longest)
MAX_API_BODY = 64 * 1024
#: the largest bind request a preheated kernel sends (its id, the time, a signature)
MAX_BIND_BODY = 1024

EXPIRED = (
    "Sidan har varit öppen för länge. Ladda om sidan för att fortsätta – dina svar är sparade."
)


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
        elif action == "attempt":
            self._new_attempt(session)
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
        if kind == "svar":
            now = attempts.current(self.app, session)
            if key not in now.questions:
                self.reply(400, {"error": "Frågan ingår inte i ditt försök."})
                return
            if now.handed_in:
                self.reply(
                    409, {"error": "Försöket är redan inlämnat. Gör ett nytt försök för att svara."}
                )
                return
        self.app.store.save(session, kind, key, clean)
        self.reply(200, {"saved": datetime.now(UTC).isoformat()})

    async def _submit(self, session: PageSession) -> None:
        store = self.app.store
        now = attempts.current(self.app, session)
        saved = store.load(session)["svar"]
        answers = {k: v for k, v in saved.items() if k in now.questions and v not in (None, [], {})}
        if not answers:
            self.reply(
                400,
                {
                    "error": "Du har inte svarat på någon fråga än. Svara på frågorna och lämna in sedan."
                },
            )
            return
        sid = attempts.submission_id(session, now.number)
        try:
            reply = await self.app.grading.submit(
                sid, session.learner, session.module, session.version, answers, now.variant
            )
        except GradingError as exc:
            self.reply(
                exc.status if exc.status in (400, 404, 409, 413, 429) else 502,
                {"error": exc.message},
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

    def _new_attempt(self, session: PageSession) -> None:
        try:
            started = attempts.start_next(self.app, session)
        except attempts.NotNow as exc:
            self.reply(exc.status, {"error": exc.message})
            return
        self.reply(200, {"attempt": started.view(), "state": self.app.store.load(session)})


def page_state(app: LearnService, session: PageSession) -> dict[str, Any]:
    """What a page's kernel loads: the learner's saved state, this attempt and its result."""
    now = attempts.current(app, session)
    result = now.result
    if result and session.module in app.renewals.get(session.learner, set()):
        # the pass is running out: a new attempt, if the limit allows one now
        with contextlib.suppress(attempts.NotNow):
            now = attempts.start_next(app, session, renewal=True)
            result = None
    return {"state": app.store.load(session), "result": result, "attempt": now.view()}


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
