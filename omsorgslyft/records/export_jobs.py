"""Large exports in the background: a job per person, its progress, and its file.

A direct download of the whole register (``export.xlsx``) would hold one request open
while the records are computed and the file is written: seconds for a large
municipality, long enough for a proxy's timeout and for a person to think nothing
happens. From the HR page (``overview.html``, Exportera) a selection of more than
``ExportJobs.direct_rows`` rows is exported as a job instead:

* ``POST export`` (the filters and ``format``) starts the job in a worker thread with the
  caller's filters and access as they are at that moment (``Base.filters`` and
  ``Base.visible``, as the direct export uses them), and redirects to its page;
* ``export/<id>`` shows a labelled ``<progress>`` and a Swedish ``aria-live`` text, kept up
  to date by ``export.js`` (served by this service: the page's CSP adds ``script-src
  'self'`` and ``connect-src 'self'``, for this page only), which polls
  ``api/export/<id>`` (JSON: state, done rows, total);
* ``export/<id>/fil`` is the file once it is written.

One job per person, in memory (a restart forgets them: the person starts again). A job's
page, status and file exist only for the person who started it (anyone else gets 404,
as for an id that never was), and only while that person still has the access the file
was made with. The file is kept for ``KEEP_SECONDS`` after it is done, or until the person
starts another export; every response is ``Cache-Control: no-store`` (``Private``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado import web

from omsorgslyft.records.export import to_csv, to_xlsx
from omsorgslyft.records.handlers import Access, Base
from omsorgslyft.records.model import CompetenceRecord

log = logging.getLogger("omsorgslyft.records")

#: up to this many rows the page's links download the file at once (about a second)
DIRECT_ROWS = 10_000
#: how long a finished job's file is kept for its owner
KEEP_SECONDS = 15 * 60
JOB_ID = r"([A-Za-z0-9_-]{20,40})"

# format -> (file extension, content type, CSV dialect or "" for XLSX)
FORMATS = {
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ""),
    "csv": ("csv", "text/csv; charset=utf-8", "excel-sv"),
    "csv-utf8": ("csv", "text/csv; charset=utf-8", "utf8"),
}
LABELS = {"xlsx": "Excel (.xlsx)", "csv": "CSV för svenskt Excel", "csv-utf8": "CSV (UTF-8, komma)"}

WAITING, COMPUTING, WRITING, DONE, FAILED, CANCELLED = (
    "waiting",
    "computing",
    "writing",
    "done",
    "failed",
    "cancelled",
)


class Cancelled(Exception):
    """The job's owner started another export."""


def swedish_number(n: int) -> str:
    """12 000 (a no-break space between thousands, as Swedish text writes them)."""
    return f"{n:,}".replace(",", "\u00a0")


@dataclass
class ExportJob:
    id: str
    owner: str
    fmt: str
    access: Access
    query: dict[str, str]
    stamp: str  # the register's date: the file's name
    created: float = field(default_factory=time.monotonic)
    state: str = WAITING
    done: int = 0
    total: int = 0
    data: bytes | None = None
    finished: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: every (done, total) reported, for tests
    seen: list[tuple[int, int]] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"kompetensregister-{self.stamp}.{FORMATS[self.fmt][0]}"

    @property
    def over(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)

    def progress(self, done: int, total: int) -> None:
        if self.cancelled.is_set():
            raise Cancelled
        self.total, self.done = total, done
        self.seen.append((done, total))

    def text(self) -> str:
        """Where the job is, in Swedish (the status page's live region)."""
        if self.state == WAITING:
            return "Exporten väntar på tur."
        if self.state == COMPUTING:
            return "Registret räknas fram."
        if self.state == WRITING:
            share = round(100 * self.done / self.total) if self.total else 0
            return (
                f"{swedish_number(self.done)} av {swedish_number(self.total)} rader klara "
                f"({share} %)."
            )
        if self.state == DONE:
            rows = "1 rad" if self.total == 1 else f"{swedish_number(self.total)} rader"
            return f"Klart: {rows}. Filen är redo att laddas ner."
        if self.state == CANCELLED:
            return "Exporten avbröts eftersom du startade en ny."
        return "Exporten misslyckades. Försök igen om en stund."

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "text": self.text(),
            "format": self.fmt,
            "filename": self.filename,
        }


class ExportJobs:
    """The jobs of one records service: the latest per person, written one at a time (a
    large export is CPU work, and the service answers pages meanwhile)."""

    def __init__(self, direct_rows: int = DIRECT_ROWS, workers: int = 1) -> None:
        self.direct_rows = direct_rows
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export")
        self._jobs: dict[str, ExportJob] = {}
        self._lock = threading.Lock()

    def start(
        self,
        owner: str,
        fmt: str,
        access: Access,
        query: dict[str, str],
        stamp: str,
        records: Callable[[], Sequence[CompetenceRecord]],
        select: Callable[[Sequence[CompetenceRecord]], list[CompetenceRecord]],
    ) -> ExportJob:
        """A new job for ``owner`` (their earlier one is cancelled and forgotten): the
        worker computes ``records()`` and writes ``select`` of them."""
        if fmt not in FORMATS:
            raise ValueError(fmt)
        job = ExportJob(secrets.token_urlsafe(24), owner, fmt, access, dict(query), stamp)
        with self._lock:
            self._forget_old()
            before = self._jobs.get(owner)
            if before is not None:
                before.cancelled.set()
                before.data = None
            self._jobs[owner] = job
        self._pool.submit(self._run, job, records, select)
        return job

    def get(self, owner: str, job_id: str) -> ExportJob | None:
        """``owner``'s job with this id; None for anyone else's, an old or unknown one."""
        with self._lock:
            self._forget_old()
            job = self._jobs.get(owner)
        if job is None or not hmac.compare_digest(job.id.encode(), job_id.encode()):
            return None
        return job

    def _forget_old(self) -> None:
        now = time.monotonic()
        for owner, job in list(self._jobs.items()):
            if job.finished is not None and now - job.finished > KEEP_SECONDS:
                del self._jobs[owner]

    def _run(
        self,
        job: ExportJob,
        records: Callable[[], Sequence[CompetenceRecord]],
        select: Callable[[Sequence[CompetenceRecord]], list[CompetenceRecord]],
    ) -> None:
        try:
            if job.cancelled.is_set():
                raise Cancelled
            job.state = COMPUTING
            chosen = select(records())
            job.progress(0, len(chosen))
            job.state = WRITING
            dialect = FORMATS[job.fmt][2]
            if dialect:
                data = to_csv(chosen, dialect, progress=job.progress)
            else:
                data = to_xlsx(chosen, progress=job.progress)
            del chosen
            if job.cancelled.is_set():
                raise Cancelled
            job.data = data
            job.state = DONE
        except Cancelled:
            job.state = CANCELLED
        except Exception:
            log.exception("export %s for %s failed", job.fmt, job.owner)
            job.state = FAILED
        finally:
            job.finished = time.monotonic()

    def shutdown(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.cancelled.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _JobHandler(Base):
    """A route of one job: only its owner, only with the access it was made with."""

    @property
    def jobs(self) -> ExportJobs:
        jobs: ExportJobs = self.settings["export_jobs"]
        return jobs

    def job(self, job_id: str) -> ExportJob:
        job = self.jobs.get(self.username, job_id)
        if job is None or not _covers(self.access(), job.access):
            raise web.HTTPError(404)
        return job


def _covers(now: Access, then: Access) -> bool:
    """Whether the person may still see everything the file was made with."""
    return now.hr or (not then.hr and then.units <= now.units)


class ExportStartHandler(_JobHandler):
    """``POST export``: start a job with the filters of the form (those of the page)."""

    @web.authenticated
    def post(self) -> None:
        fmt = self.get_argument("format", "xlsx")
        if fmt not in FORMATS:
            raise web.HTTPError(400)
        filters = self.filters()
        access = self.access()
        visible = self.visible  # the access above, computed once for this request
        job = self.jobs.start(
            self.username,
            fmt,
            access,
            filters.query(),
            self.records.today().isoformat(),
            self.records.all,
            lambda records: filters.apply(visible(records)),
        )
        self.redirect(self.url("export", job.id), status=303)


class ExportJobPage(_JobHandler):
    """The job's page: a progress bar that ``export.js`` keeps up to date, the file's link."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Private's policy, and for this page only: its script, and its status requests
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; connect-src 'self'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )

    @web.authenticated
    def get(self, job_id: str) -> None:
        job = self.job(job_id)
        self.render_page(
            "export_status.html",
            "Export",
            job=job,
            label=LABELS[job.fmt],
            status_url=self.url("api", "export", job.id),
            file_url=self.url("export", job.id, "fil"),
            page_url=self.url("export", job.id),
            back_url=self.url("", **job.query),
            share=round(100 * job.done / job.total) if job.total else 0,
        )


class ExportJobStatus(_JobHandler):
    """``api/export/<id>``: ``{state, done, total, text, format, filename}``."""

    @web.authenticated
    def get(self, job_id: str) -> None:
        self.write_json(self.job(job_id).status())


class ExportJobFile(_JobHandler):
    """``export/<id>/fil``: the finished file, for its owner."""

    @web.authenticated
    def get(self, job_id: str) -> None:
        job = self.job(job_id)
        data = job.data
        if job.state != DONE or data is None:
            self.redirect(self.url("export", job.id), status=303)
            return
        self.set_header("Content-Type", FORMATS[job.fmt][1])
        self.set_header("Content-Disposition", f'attachment; filename="{job.filename}"')
        self.finish(data)


class ExportScript(web.RequestHandler):
    """``export.js``: the job page's script (no data in it, like the stylesheet)."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "max-age=3600")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish((Path(__file__).parent / "templates" / "export.js").read_bytes())
