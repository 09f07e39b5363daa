"""Exports (XLSX, CSV) and the JSON API for HR systems, the learn service and trainers."""

from __future__ import annotations

from tornado import web
from tornado.ioloop import IOLoop

from omsorgslyft.records.export import to_csv, to_json, to_xlsx
from omsorgslyft.records.filters import coverage
from omsorgslyft.records.handlers import HR_SCOPE, OWN_SCOPE, STATS_SCOPE, Base
from omsorgslyft.records.stats import question_statistics


class ExportHandler(Base):
    """The direct download (``export.xlsx``, ``export.csv``): the HR page's links for a
    selection of up to ``ExportJobs.direct_rows`` rows, and any client's at any size.
    The file is written in a worker thread, so that the service answers others meanwhile;
    the page starts a larger export as a job (``export_jobs.py``)."""

    @web.authenticated
    async def get(self, fmt: str) -> None:
        chosen = self.filters().apply(self.visible(self.records.all()))
        stamp = self.records.today().isoformat()
        loop = IOLoop.current()
        if fmt == "xlsx":
            data = await loop.run_in_executor(None, to_xlsx, chosen)
            kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        elif fmt == "csv":
            dialect = "utf8" if self.get_argument("dialekt", "") == "utf8" else "excel-sv"
            data = await loop.run_in_executor(None, to_csv, chosen, dialect)
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
        chosen = self.filters().apply(self.visible(self.records.all()))
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
        chosen = self.filters().apply(self.visible(self.records.all()))
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
    needs = ""

    @web.authenticated
    def get(self, username: str) -> None:
        person = self.records.store.employee_by_username(username)
        if not self.has_scope(OWN_SCOPE) and not (
            person is not None and self.access().sees(person.unit)
        ):
            # a manager asking for someone outside their units
            raise web.HTTPError(404 if self.access().any else 403)
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


class StatsApiHandler(Base):
    hub_scopes = frozenset({STATS_SCOPE, HR_SCOPE})
    needs = ""

    @web.authenticated
    def get(self) -> None:
        if not (self.has_scope(STATS_SCOPE) or self.access().hr):
            raise web.HTTPError(403)
        from dataclasses import asdict

        stats = question_statistics(self.records.config, self.records.store)
        self.write_json([asdict(s) for s in stats])
