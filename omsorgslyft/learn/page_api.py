"""The small API that module pages' kernels call (never a browser).

* ``api/page/(load|save|submit|attempt)``: with the page's capability token: the
  learner's saved state, one saved answer, Lämna in, and the next attempt after a failed
  one (:mod:`omsorgslyft.learn.attempts`);
* ``api/page/bind``: a preheated page's kernel asks whose page it is.

Every call's database work (the token, the attempt, the answer) runs in the service's
store threads (``LearnApp.store_threads``), never on the event loop: while one page's
answer is committed, the loop goes on relaying every other page's widget messages. A
page's kernel waits for each reply before it sends its next change, so one page's saves
still reach the store in the order they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

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
NOTHING_ANSWERED = "Du har inte svarat på någon fråga än. Svara på frågorna och lämna in sedan."

T = TypeVar("T")
#: a reply: HTTP status and the JSON body
Reply = tuple[int, dict[str, Any]]


async def in_store(app: LearnService, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in the store threads, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(app.store_pool, functools.partial(work, *args))


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

    async def prepare(self) -> None:
        self._body = bytearray()
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        state, session = (
            await in_store(self.app, self.app.store.check_session, token.strip())
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
        app = self.app
        if action == "load":
            self.reply(200, await in_store(app, page_state, app, session))
        elif action == "save":
            self.reply(*await in_store(app, save_answer, app, session, body))
        elif action == "attempt":
            self.reply(*await in_store(app, new_attempt, app, session))
        else:
            await self._submit(session)

    async def _submit(self, session: PageSession) -> None:
        app = self.app
        now, answers = await in_store(app, to_hand_in, app, session)
        if not answers:
            self.reply(400, {"error": NOTHING_ANSWERED})
            return
        sid = attempts.submission_id(session, now.number)
        try:
            reply = await app.grading.submit(
                sid, session.learner, session.module, session.version, answers, now.variant
            )
        except GradingError as exc:
            self.reply(
                exc.status if exc.status in (400, 404, 409, 413, 429) else 502,
                {"error": exc.message},
            )
            return
        if reply["status"] == "klar" and reply["result"]:
            await in_store(
                app,
                app.store.record_result,
                session.learner,
                session.module,
                session.version,
                reply["id"],
                reply["result"],
            )
            self.reply(200, {"status": "klar", "result": reply["result"]})
        elif reply["status"] == "fel":
            self.reply(
                502, {"error": (reply.get("result") or {}).get("error", "Rättningen misslyckades.")}
            )
        else:
            self.reply(202, {"status": reply["status"], "id": reply["id"]})


def save_answer(app: LearnService, session: PageSession, body: dict[str, Any]) -> Reply:
    """Check one answer against the module and the attempt, and store it."""
    kind, key, value = body.get("kind"), body.get("key"), body.get("value")
    info = app.catalog.get(session.module)
    if info is None or info.version != session.version:
        return 409, {"error": "Modulen har uppdaterats. Ladda om sidan."}
    if kind not in KINDS or not isinstance(key, str):
        return 400, {"error": "Okänd sorts svar."}
    try:
        clean = validate_answer(info.blocks, kind, key, value)
    except InvalidAnswer as exc:
        return 400, {"error": f"Ogiltigt svar: {exc}."}
    if kind == "svar":
        now = attempts.current(app, session)
        if key not in now.questions:
            return 400, {"error": "Frågan ingår inte i ditt försök."}
        if now.handed_in:
            return 409, {"error": "Försöket är redan inlämnat. Gör ett nytt försök för att svara."}
    app.store.save(session, kind, key, clean)
    return 200, {"saved": datetime.now(UTC).isoformat()}


def to_hand_in(app: LearnService, session: PageSession) -> tuple[attempts.Attempt, dict[str, Any]]:
    """The current attempt and its answers given so far (what Lämna in sends)."""
    now = attempts.current(app, session)
    saved = app.store.load(session)["svar"]
    return now, {k: v for k, v in saved.items() if k in now.questions and v not in (None, [], {})}


def new_attempt(app: LearnService, session: PageSession) -> Reply:
    try:
        started = attempts.start_next(app, session)
    except attempts.NotNow as exc:
        return exc.status, {"error": exc.message}
    return 200, {"attempt": started.view(), "state": app.store.load(session)}


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
        state = await in_store(self.app, page_state, self.app, session)
        self.reply(200, {"token": ticket.token, **state})
