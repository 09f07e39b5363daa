"""The records service: HR pages, exports and a JSON API, each behind a custom hub scope.

    python -m omsorgslyft.records.service --root . [--port 8103]

Browser pages log in through the hub (OAuth); API clients send a hub token. HR pages,
exports and the records API need ``custom:omsorgslyft:hr``; question statistics need
``custom:omsorgslyft:statistics`` (or HR); one learner's own records, for the learn
service's *Mina utbildningar*, need ``custom:omsorgslyft:own-records`` (or HR).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer

from omsorgslyft.records import gdpr
from omsorgslyft.records.charts import coverage_svg, pct
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.export import to_csv, to_json, to_xlsx
from omsorgslyft.records.filters import COVERAGE_TARGET, Filters, coverage, status_counts
from omsorgslyft.records.hubsync import HubClient, sync_hub
from omsorgslyft.records.model import STATUS_ORDER, CompetenceRecord, Employee, Status
from omsorgslyft.records.roster import read_roster
from omsorgslyft.records.stats import question_statistics
from omsorgslyft.records.store import ImportPlan, RecordsStore

log = logging.getLogger("omsorgslyft.records")

HR_SCOPE = "custom:omsorgslyft:hr"
STATS_SCOPE = "custom:omsorgslyft:statistics"
OWN_SCOPE = "custom:omsorgslyft:own-records"
MAX_UPLOAD = 55 * 1024 * 1024  # above the roster reader's own 50 MB limit
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


@dataclass
class PendingImport:
    plan: ImportPlan
    employees: tuple[Employee, ...]
    filename: str
    by: str
    created: float


class Records:
    """State shared by the handlers: configuration, store, a short cache, pending imports."""

    def __init__(self, config: RecordsConfig, hub: HubClient | None = None) -> None:
        self.config = config
        self.store: RecordsStore = config.store()
        self.hub = hub
        self._cache: tuple[float, date, list[CompetenceRecord]] | None = None
        self.pending: dict[str, PendingImport] = {}

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
            await sync_hub(self.hub, self.store.employees(), self.today())
        except Exception:
            log.exception("hub sync failed (will try again)")

    def keep_pending(self, pending: PendingImport) -> str:
        now = time.monotonic()
        for key in [k for k, p in self.pending.items() if now - p.created > PENDING_SECONDS]:
            del self.pending[key]
        key = secrets.token_urlsafe(16)
        self.pending[key] = pending
        return key


class Base(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    hub_scopes = frozenset({HR_SCOPE})

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

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )

    def has_scope(self, scope: str) -> bool:
        user = self.current_user
        return bool(user) and bool(self.hub_auth.check_scopes({scope}, user))

    def url(self, *parts: str, **query: str) -> str:
        path: str = url_path_join(self.settings["prefix"], *parts)
        return path + ("?" + urlencode(query) if query else "")

    def render_page(self, template: str, title: str, **context: Any) -> None:
        env: Environment = self.settings["jinja"]
        html = env.get_template(template).render(
            title=title,
            user=self.username,
            url=self.url,
            xsrf_form_html=self.xsrf_form_html,
            can_hr=self.has_scope(HR_SCOPE),
            can_stats=self.has_scope(STATS_SCOPE),
            logout=url_path_join(self.settings["hub_prefix"], "logout"),
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


def _options(records: list[CompetenceRecord]) -> dict[str, list[tuple[str, str]]]:
    units = sorted({r.employee.unit for r in records})
    roles = sorted({r.employee.role for r in records})
    modules = sorted({(r.module, r.module_title) for r in records}, key=lambda m: m[1])
    return {
        "enhet": [(u, u) for u in units],
        "befattning": [(r, r) for r in roles],
        "modul": list(modules),
        "status": [(s.value, s.value.capitalize()) for s in STATUS_ORDER],
    }


class OverviewHandler(Base):
    @web.authenticated
    def get(self) -> None:
        everything = self.records.all()
        f = self.filters()
        chosen = f.apply(everything)
        cover = coverage(chosen)
        charts = []
        modules = sorted({(c.module, c.module_title) for c in cover}, key=lambda m: m[1])
        for i, (module, title) in enumerate(modules):
            rows = [c for c in cover if c.module == module]
            charts.append(
                {"title": title, "svg": coverage_svg(title, rows, f"diagram-{i}"), "rows": rows}
            )
        overdue = sorted(
            (r for r in chosen if r.status is Status.OVERDUE),
            key=lambda r: (r.due, r.employee.name),
        )
        soon = sorted(
            (r for r in chosen if r.status in (Status.EXPIRING, Status.EXPIRED)),
            key=lambda r: (r.valid_until or r.due, r.employee.name),
        )
        self.render_page(
            "overview.html",
            "Kompetensöversikt",
            f=f,
            options=_options(everything),
            counts=status_counts(chosen),
            status_order=STATUS_ORDER,
            charts=charts,
            target=COVERAGE_TARGET,
            overdue=overdue[:50],
            overdue_total=len(overdue),
            soon=soon[:50],
            soon_total=len(soon),
            people=len({r.employee.number for r in chosen}),
            today=self.records.today(),
            imports=self.records.store.imports(1),
            message=self.get_argument("meddelande", "")[:200],
        )


class MatrixHandler(Base):
    @web.authenticated
    def get(self) -> None:
        everything = self.records.all()
        f = self.filters()
        chosen = f.apply(everything)
        modules = sorted({(r.module, r.module_title) for r in chosen}, key=lambda m: m[1])
        people: dict[str, dict[str, Any]] = {}
        for r in chosen:
            row = people.setdefault(r.employee.number, {"employee": r.employee, "cells": {}})
            row["cells"][r.module] = r
        rows = sorted(people.values(), key=lambda p: (p["employee"].unit, p["employee"].name))
        try:
            page = max(int(self.get_argument("sida", "1")), 1)
        except ValueError:
            page = 1
        pages = max((len(rows) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        page = min(page, pages)
        self.render_page(
            "matrix.html",
            "Kompetensmatris",
            f=f,
            options=_options(everything),
            modules=modules,
            rows=rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            total=len(rows),
            page=page,
            pages=pages,
            query=f.query(),
        )


class EmployeeHandler(Base):
    @web.authenticated
    def get(self, number: str) -> None:
        person = self.records.store.employee_by_number(number)
        if person is None:
            raise web.HTTPError(404)
        records = compute_records(
            self.records.store,
            self.records.config.courses,
            self.records.config.pass_marks,
            self.records.today(),
            person.username,
            include_inactive=True,
        )
        attempts = self.records.store.attempts(self.records.config.pass_marks, person.username)
        history = sorted(
            (a for (_, _), items in attempts.items() for a in items),
            key=lambda a: a.graded_at,
            reverse=True,
        )
        titles = {m.id: m.title for m in self.records.config.modules.values()}
        self.render_page(
            "employee.html",
            person.name,
            person=person,
            records=records,
            history=history,
            titles=titles,
            message=self.get_argument("meddelande", ""),
        )


class ExtractHandler(Base):
    @web.authenticated
    def get(self, number: str) -> None:
        extract = gdpr.register_extract(self.records.config, self.records.store, number)
        if extract is None:
            raise web.HTTPError(404)
        self.set_header(
            "Content-Disposition", f'attachment; filename="registerutdrag-{number}.json"'
        )
        self.write_json(extract)


class EraseHandler(Base):
    @web.authenticated
    async def post(self, number: str) -> None:
        mode = self.get_body_argument("atgard", "")
        if (
            mode not in ("pseudonymisera", "radera")
            or self.get_body_argument("bekrafta", "") != number
        ):
            raise web.HTTPError(400)
        person = self.records.store.employee_by_number(number)
        if person is None:
            raise web.HTTPError(404)
        done = gdpr.erase(self.records.config, self.records.store, number, mode, self.username)
        self.records.changed()
        if self.records.hub is not None:
            try:
                await self.records.hub.call("DELETE", f"users/{person.username}")
            except Exception:
                log.info("%s had no hub user to remove", number)
        # the message names no one: the URL ends up in logs
        text = (
            "Uppgifterna är raderade." if mode == "radera" else "Uppgifterna är pseudonymiserade."
        )
        self.redirect(self.url("", meddelande=text if done else ""))


class ImportHandler(Base):
    @web.authenticated
    def get(self) -> None:
        self.render_page(
            "import.html",
            "Importera personallista",
            imports=self.records.store.imports(10),
            message=self.get_argument("meddelande", ""),
            errors=[],
            plan=None,
            pending="",
            filename="",
        )

    @web.authenticated
    def post(self) -> None:
        files = self.request.files.get("fil") or []
        if not files:
            errors = ["Välj en fil att importera."]
            plan, pending, name = None, "", ""
        else:
            upload = files[0]
            name = Path(upload["filename"] or "personal.csv").name
            roster = read_roster(upload["body"], name)
            errors = [str(e) for e in roster.errors]
            plan, pending = None, ""
            if not errors:
                plan = self.records.store.plan_import(
                    roster.employees, self.records.config.retention_limit(self.records.today())
                )
                errors = plan.conflicts
                if not errors:
                    pending = self.records.keep_pending(
                        PendingImport(plan, roster.employees, name, self.username, time.monotonic())
                    )
        self.set_status(400 if errors else 200)
        self.render_page(
            "import.html",
            "Importera personallista",
            imports=self.records.store.imports(10),
            message="",
            errors=errors,
            plan=plan,
            pending=pending,
            filename=name,
        )


class ImportConfirmHandler(Base):
    @web.authenticated
    async def post(self, key: str) -> None:
        pending = self.records.pending.pop(key, None)
        if pending is None:
            self.redirect(
                self.url("import", meddelande="Provkörningen är för gammal. Ladda upp filen igen.")
            )
            return
        # plan again against the roster as it is now (another import may have come first)
        store = self.records.store
        plan = store.plan_import(
            pending.employees, self.records.config.retention_limit(self.records.today())
        )
        if plan.conflicts:
            self.redirect(self.url("import", meddelande=" ".join(plan.conflicts)))
            return
        store.apply_import(plan, pending.filename, self.username)
        self.records.changed()
        await self.records.sync()
        self.redirect(
            self.url("import", meddelande=f"Importerat från {pending.filename}: {plan.summary()}.")
        )


class ExportHandler(Base):
    @web.authenticated
    def get(self, fmt: str) -> None:
        chosen = self.filters().apply(self.records.all())
        stamp = self.records.today().isoformat()
        if fmt == "xlsx":
            data = to_xlsx(chosen)
            kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        elif fmt == "csv":
            dialect = "utf8" if self.get_argument("dialekt", "") == "utf8" else "excel-sv"
            data = to_csv(chosen, dialect)
            kind = "text/csv; charset=utf-8"
        else:
            raise web.HTTPError(404)
        self.set_header("Content-Type", kind)
        self.set_header(
            "Content-Disposition", f'attachment; filename="kompetensregister-{stamp}.{fmt}"'
        )
        self.finish(data)


class RecordsApiHandler(Base):
    @web.authenticated
    def get(self) -> None:
        chosen = self.filters().apply(self.records.all())
        self.write_json(
            {
                "date": self.records.today().isoformat(),
                "count": len(chosen),
                "records": to_json(chosen),
            }
        )


class CoverageApiHandler(Base):
    @web.authenticated
    def get(self) -> None:
        chosen = self.filters().apply(self.records.all())
        self.write_json(
            [
                {
                    "unit": c.unit,
                    "module": c.module,
                    "valid": c.valid,
                    "required": c.required,
                    "share": round(c.share, 4),
                    "meets_target": c.meets_target,
                }
                for c in coverage(chosen)
            ]
        )


class LearnerApiHandler(Base):
    hub_scopes = frozenset({HR_SCOPE, OWN_SCOPE})

    @web.authenticated
    def get(self, username: str) -> None:
        person = self.records.store.employee_by_username(username)
        if person is None:
            self.write_json({"in_roster": False, "records": []})
            return
        self.write_json(
            {
                "in_roster": True,
                "employed": person.employed_on(self.records.today()),
                "records": to_json(self.records.for_learner(username)),
            }
        )


class StatsHandler(Base):
    hub_scopes = frozenset({STATS_SCOPE, HR_SCOPE})

    @web.authenticated
    def get(self) -> None:
        stats = question_statistics(self.records.config, self.records.store)
        self.render_page("stats.html", "Frågestatistik", stats=stats)


class StatsApiHandler(Base):
    hub_scopes = frozenset({STATS_SCOPE, HR_SCOPE})

    @web.authenticated
    def get(self) -> None:
        from dataclasses import asdict

        stats = question_statistics(self.records.config, self.records.store)
        self.write_json([asdict(s) for s in stats])


class OAuthCallback(HubOAuthCallbackHandler):  # type: ignore[misc]
    """The hub's OAuth callback, with the one HubOAuth that holds this service's states."""

    @property
    def hub_auth(self) -> HubOAuth:
        auth: HubOAuth = self.settings["hub_auth"]
        return auth


class Stylesheet(web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/css; charset=utf-8")
        self.set_header("Cache-Control", "max-age=3600")
        self.finish((Path(__file__).parent / "templates" / "records.css").read_bytes())


def make_app(records: Records, prefix: str, hub_auth: HubOAuth, hub_prefix: str) -> web.Application:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["combine_status"] = lambda query, status: {**query, "status": status}

    def route(path: str, handler: type[web.RequestHandler]) -> tuple[str, type[web.RequestHandler]]:
        return (url_path_join(prefix, path), handler)

    return web.Application(
        [
            route("", OverviewHandler),
            route("oauth_callback", OAuthCallback),
            route("records.css", Stylesheet),
            route("matris", MatrixHandler),
            route(r"anstalld/([^/]{1,200})", EmployeeHandler),
            route(r"anstalld/([^/]{1,200})/registerutdrag", ExtractHandler),
            route(r"anstalld/([^/]{1,200})/radera", EraseHandler),
            route("import", ImportHandler),
            route(r"import/([A-Za-z0-9_-]{10,40})", ImportConfirmHandler),
            route(r"export\.(xlsx|csv)", ExportHandler),
            route("statistik", StatsHandler),
            route("api/records", RecordsApiHandler),
            route("api/coverage", CoverageApiHandler),
            route(r"api/learners/([^/]{1,200})/records", LearnerApiHandler),
            route("api/statistics", StatsApiHandler),
        ],
        records=records,
        hub_auth=hub_auth,
        prefix=prefix,
        hub_prefix=hub_prefix,
        jinja=env,
        xsrf_cookies=True,
        # signs the OAuth state cookie; a restart only means logging in to the service again
        cookie_secret=os.urandom(32),
        login_url=hub_auth.login_url,
    )


async def serve(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO, format="[records %(levelname)s %(asctime)s] %(message)s"
    )
    root = Path(args.root).resolve()
    config = RecordsConfig.for_project(
        root,
        records_url=args.db_url,
        submissions_url=args.submissions_url,
        gradebook_url=args.gradebook_url,
        answers_url=args.answers_url,
        retention_months=args.retention_months,
    ).load()
    hub = None
    if os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_API_URL"):
        hub = HubClient(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    records = Records(config, hub)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/records/")
    hub_auth = HubOAuth(cache_max_age=60)
    app = make_app(records, prefix, hub_auth, os.environ.get("JUPYTERHUB_BASE_URL", "/") + "hub/")
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{args.port}")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    HTTPServer(app, max_body_size=MAX_UPLOAD).listen(port, "127.0.0.1")
    log.info("records service on 127.0.0.1:%s%s", port, prefix)
    while True:
        await records.sync()
        done = gdpr.apply_retention(config, records.store, records.today(), by="gallring")
        if done:
            records.changed()
            log.info("retention: %d former employees pseudonymised", len(done))
        await asyncio.sleep(args.sync_interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Omsorgslyft records service")
    parser.add_argument("--root", required=True, help="the project folder")
    parser.add_argument("--db-url", default="")
    parser.add_argument("--submissions-url", default="")
    parser.add_argument("--gradebook-url", default="")
    parser.add_argument("--answers-url", default="")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--retention-months", type=int, default=24)
    parser.add_argument("--sync-interval", type=float, default=30.0)
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
