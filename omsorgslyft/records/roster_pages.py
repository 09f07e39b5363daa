"""Roster import from the web: upload and dry run, then confirm.

Both steps ask the hub which accounts are reserved (admins, trainers, HR): a row naming one
is an error, and if the hub does not answer nothing is imported.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tornado import httputil, web
from tornado.http1connection import HTTP1Connection

from omsorgslyft.records.handlers import MAX_UPLOAD, Base, PendingImport, log
from omsorgslyft.records.reserved import UNKNOWN
from omsorgslyft.records.roster import read_roster


class ImportPage(Base):
    """The import page, with what the last step found (HR alone)."""

    needs = "hr"
    tool = "import"

    def show(self, status: int = 200, **context: Any) -> None:
        values: dict[str, Any] = {
            "message": "",
            "errors": [],
            "plan": None,
            "pending": "",
            "filename": "",
            **context,
        }
        self.set_status(status)
        self.render_page(
            "import.html",
            "Importera personallista",
            imports=self.records.store.imports(10),
            **values,
        )


@web.stream_request_body
class ImportHandler(ImportPage):
    """The upload is the one request whose body may be large (a roster file): it is read
    only after the sender is known to hold the HR scope; every other body the service
    takes is small (``MAX_BODY``)."""

    def check_xsrf_cookie(self) -> None:
        if self.request.method != "POST":
            super().check_xsrf_cookie()
        # a POST's form token is in its body, not read yet: checked in post()

    def prepare(self) -> None:
        super().prepare()
        if self.request.method != "POST":
            return
        if not self.current_user or not self.access().hr:
            raise web.HTTPError(403)  # before a byte of the body is read
        declared = int(self.request.headers.get("Content-Length") or 0)
        if declared > MAX_UPLOAD:
            raise web.HTTPError(413, "Filen är för stor.")
        connection = self.request.connection
        assert isinstance(connection, HTTP1Connection)
        connection.set_max_body_size(MAX_UPLOAD)
        self._chunks: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    @web.authenticated
    def get(self) -> None:
        self._permitted()  # not in prepare() for this handler (see Base.prepare)
        self.show(message=self.get_argument("meddelande", ""))

    @web.authenticated
    async def post(self) -> None:
        httputil.parse_body_arguments(
            self.request.headers.get("Content-Type", ""),
            b"".join(self._chunks),
            self.request.body_arguments,
            self.request.files,
            self.request.headers,
        )
        self.request.arguments.update(self.request.body_arguments)
        super().check_xsrf_cookie()
        files = self.request.files.get("fil") or []
        if not files:
            self.show(400, errors=["Välj en fil att importera."])
            return
        upload = files[0]
        name = Path(upload["filename"] or "personal.csv").name
        try:
            reserved = await self.records.reserved()
        except Exception:
            log.exception("could not ask the hub for reserved accounts")
            self.show(503, errors=[UNKNOWN], filename=name)
            return
        roster = read_roster(upload["body"], name, reserved)
        errors = [str(e) for e in roster.errors]
        plan, pending = None, ""
        if not errors:
            plan = self.records.store.plan_import(
                roster.employees, self.records.config.retention_limit(self.records.today())
            )
            errors = plan.conflicts
            if not errors:
                pending = self.records.keep_pending(
                    PendingImport(plan, roster, name, self.username, time.monotonic())
                )
        self.show(400 if errors else 200, errors=errors, plan=plan, pending=pending, filename=name)


class ImportConfirmHandler(ImportPage):
    @web.authenticated
    async def post(self, key: str) -> None:
        pending = self.records.pending.pop(key, None)
        if pending is None:
            self.redirect(
                self.url("import", meddelande="Provkörningen är för gammal. Ladda upp filen igen.")
            )
            return
        # someone may have become an admin, a trainer or HR since the dry run
        try:
            reserved = await self.records.reserved()
        except Exception:
            log.exception("could not ask the hub for reserved accounts")
            self.show(503, errors=[UNKNOWN], filename=pending.filename)
            return
        refused = pending.roster.reserved_errors(reserved)
        if refused:
            self.show(400, errors=[str(e) for e in refused], filename=pending.filename)
            return
        # plan again against the roster as it is now (another import may have come first)
        store = self.records.store
        plan = store.plan_import(
            pending.roster.employees, self.records.config.retention_limit(self.records.today())
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
