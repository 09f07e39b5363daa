"""Roster import from the web: upload and dry run, then confirm."""

from __future__ import annotations

import time
from pathlib import Path

from tornado import web

from omsorgslyft.records.handlers import Base, PendingImport
from omsorgslyft.records.roster import read_roster


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
