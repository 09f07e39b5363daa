"""The HR pages: overview, matrix, one employee (with GDPR), question statistics."""

from __future__ import annotations

from typing import Any

from tornado import web

from omsorgslyft.records import gdpr
from omsorgslyft.records.charts import coverage_svg
from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.filters import COVERAGE_TARGET, coverage, status_counts
from omsorgslyft.records.handlers import HR_SCOPE, PAGE_SIZE, STATS_SCOPE, Base, log
from omsorgslyft.records.model import STATUS_ORDER, CompetenceRecord, Status
from omsorgslyft.records.reserved import fold
from omsorgslyft.records.stats import question_statistics


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
        everything = self.visible(self.records.all())
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
        units = sorted(self.access().units)
        self.render_page(
            "overview.html",
            "Kompetensöversikt" if self.access().hr else "Min enhet: " + ", ".join(units),
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
            imports=self.records.store.imports(1) if self.access().hr else [],
            message=self.get_argument("meddelande", "")[:200],
        )


class MatrixHandler(Base):
    tool = "matrix"

    @web.authenticated
    def get(self) -> None:
        everything = self.visible(self.records.all())
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
        if person is None or not self.access().sees(person.unit):
            raise web.HTTPError(404)  # another unit's staff: as if there were none
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
    needs = "hr"  # GDPR: HR alone

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
    needs = "hr"  # GDPR: HR alone

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
                # never an admin's, a trainer's or HR's account (if the hub cannot say,
                # the hub user stays: the roster gate still closes the login)
                if fold(person.username) in await self.records.reserved():
                    log.warning("%s is a reserved account: its hub user is kept", number)
                else:
                    await self.records.hub.call("DELETE", f"users/{person.username}")
            except Exception:
                log.info("%s had no hub user to remove", number)
        # the message names no one: the URL ends up in logs
        text = (
            "Uppgifterna är raderade." if mode == "radera" else "Uppgifterna är pseudonymiserade."
        )
        self.redirect(self.url("", meddelande=text if done else ""))


class StatsHandler(Base):
    hub_scopes = frozenset({STATS_SCOPE, HR_SCOPE})
    needs = ""
    tool = "stats"

    @web.authenticated
    def get(self) -> None:
        if not (self.has_scope(STATS_SCOPE) or self.access().hr):
            raise web.HTTPError(403)  # trainers and HR (a manager's filtered scope: no)
        stats = question_statistics(self.records.config, self.records.store)
        self.render_page("stats.html", "Frågestatistik", stats=stats)
