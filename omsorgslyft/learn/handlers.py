"""HTTP handlers of the learn service: pages for people, a small API for page kernels."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from omsorgslyft.answers import KINDS, InvalidAnswer, validate_answer
from omsorgslyft.dates import add_months
from omsorgslyft.learn.certificate import certificate_pdf
from omsorgslyft.learn.grading_client import GradingError
from omsorgslyft.learn.pages import home_page
from omsorgslyft.learn.store import PageSession

if TYPE_CHECKING:
    from omsorgslyft.learn.app import LearnApp

MAX_API_BODY = 64 * 1024


def latest_pass(results: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    passes = [r for r in results if r.get("passed") and r.get("version") == version]
    return passes[-1] if passes else None


RENEW = frozenset({"förfaller inom 60 dagar", "förfallen"})


async def own_records(app: LearnApp, learner: str) -> dict[str, Any] | None:
    """The learner's competence records from the records service (None if unavailable)."""
    if app.records is None:
        return None
    try:
        data = await app.records.get(f"api/learners/{quote(learner, safe='')}/records")
    except GradingError:
        return None
    return data if isinstance(data, dict) and data.get("in_roster") else None


def module_status(
    app: LearnApp, learner: str, records: dict[str, Any] | None = None
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


def _local_status(app: LearnApp, learner: str) -> list[dict[str, Any]]:
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
    @property
    def app(self) -> LearnApp:
        return self.settings["omsorgslyft"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")


class HomeHandler(LearnHandler):
    @web.authenticated
    async def get(self) -> None:
        user = self.current_user
        rows = module_status(self.app, user.username, await own_records(self.app, user.username))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(home_page(user.username, rows, self.base_url, self.app.hub_home_url))


class ModuleRedirectHandler(LearnHandler):
    @web.authenticated
    def get(self, module_id: str) -> None:
        info = self.app.catalog.get(module_id)
        if info is None:
            raise web.HTTPError(404)
        self.redirect(url_path_join(self.base_url, "voila/render", info.notebook))


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
        self.set_header("Cache-Control", "no-store")
        self.finish(pdf)


class PageApiHandler(web.RequestHandler):
    """Called by a module page's kernel with its capability token (never by a browser)."""

    def check_xsrf_cookie(self) -> None:  # token-authenticated, no cookies involved
        return

    @property
    def app(self) -> LearnApp:
        return self.settings["omsorgslyft"]  # type: ignore[no-any-return]

    def reply(self, status: int, data: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data, ensure_ascii=False))

    def _session(self) -> PageSession | None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self.app.store.session(token.strip())

    async def post(self, action: str) -> None:
        session = self._session()
        if session is None:
            self.reply(401, {"error": "Ogiltig eller saknad sidnyckel."})
            return
        if len(self.request.body) > MAX_API_BODY:
            self.reply(413, {"error": "För stort svar."})
            return
        try:
            body = json.loads(self.request.body or b"{}")
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
        results = [
            r
            for r in self.app.store.results(session.learner, session.module)
            if r["version"] == session.version
        ]
        latest = results[-1] if results else None
        if latest and session.module in self.app.renewals.get(session.learner, set()):
            latest = None  # the pass is running out: show the knowledge check again
        return {"state": self.app.store.load(session), "result": latest}

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
