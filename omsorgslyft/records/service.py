"""The records service: HR pages, exports and a JSON API, each behind a custom hub scope.

    python -m omsorgslyft.records.service --root . [--ip 127.0.0.1] [--port 8103]

Browser pages log in through the hub (OAuth); API clients send a hub token. HR pages,
exports and the records API need ``custom:omsorgslyft:hr``; question statistics need
``custom:omsorgslyft:statistics`` (or HR); one learner's own records, for the learn
service's *Mina utbildningar*, need ``custom:omsorgslyft:own-records`` (or HR).

Every response is ``Cache-Control: no-store`` and every cookie ``SameSite=Lax``
(``handlers.Private``). A roster upload refuses rows naming a reserved account: the hub's
admins and the members of ``utbildare`` and ``hr`` (asked with the service's own hub token,
which holds ``list:users``, ``read:users:name`` and ``admin:groups``), and the names given
with ``--reserved-users`` (default ``admin``).

Modules: ``handlers`` (the shared state and the base handlers), ``pages`` (HR pages, GDPR,
statistics), ``roster_pages`` (import), ``api`` (exports and JSON); this one makes the
application and runs the sync and retention loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuth
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer

from omsorgslyft import lifeline
from omsorgslyft.lifeline import listen
from omsorgslyft.records import gdpr
from omsorgslyft.records.api import (
    CoverageApiHandler,
    ExportHandler,
    LearnerApiHandler,
    RecordsApiHandler,
    StatsApiHandler,
)
from omsorgslyft.records.certificate_api import CertificateApiHandler
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.export_jobs import (
    JOB_ID,
    ExportJobFile,
    ExportJobPage,
    ExportJobs,
    ExportJobStatus,
    ExportScript,
    ExportStartHandler,
)
from omsorgslyft.records.handlers import MAX_BODY, OAuthCallback, Records, Stylesheet, log
from omsorgslyft.records.hubsync import HubClient
from omsorgslyft.records.pages import (
    EmployeeHandler,
    EraseHandler,
    ExtractHandler,
    MatrixHandler,
    OverviewHandler,
    StatsHandler,
)
from omsorgslyft.records.reminder_pages import RemindersHandler
from omsorgslyft.records.reserved import ALWAYS_RESERVED, parse_names
from omsorgslyft.records.roster_pages import ImportConfirmHandler, ImportHandler
from omsorgslyft.records.verify_pages import VerifyFormHandler, VerifyHandler
from omsorgslyft.reminders import config as reminder_config
from omsorgslyft.reminders.service import ReminderService


def make_app(
    records: Records,
    prefix: str,
    hub_auth: HubOAuth,
    hub_prefix: str,
    base_url: str = "/",
    reminders: ReminderService | None = None,
) -> web.Application:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["combine_status"] = lambda query, status: {**query, "status": status}
    export_jobs = ExportJobs()  # large exports in the background (export_jobs.py)
    env.globals["export_jobs"] = export_jobs

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
            route("export", ExportStartHandler),
            route(f"export/{JOB_ID}", ExportJobPage),
            route(f"export/{JOB_ID}/fil", ExportJobFile),
            route(f"api/export/{JOB_ID}", ExportJobStatus),
            route("export.js", ExportScript),
            route("statistik", StatsHandler),
            route("api/records", RecordsApiHandler),
            route("api/coverage", CoverageApiHandler),
            route(r"api/learners/([^/]{1,200})/records", LearnerApiHandler),
            route("api/statistics", StatsApiHandler),
            route("paminnelser", RemindersHandler),
            # certificates: issued for the learn service, verified by anyone (no login)
            route(
                r"api/learners/([^/]{1,200})/certificates/([a-z0-9-]{1,100})", CertificateApiHandler
            ),
            route("intyg", VerifyFormHandler),
            route(r"intyg/([^/]{1,60})", VerifyHandler),
        ],
        records=records,
        hub_auth=hub_auth,
        prefix=prefix,
        hub_prefix=hub_prefix,
        base_url=base_url,
        reminders=reminders,
        export_jobs=export_jobs,
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
    records = Records(config, hub, parse_names(args.reserved_users))
    records.public_url = args.public_url.rstrip("/")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/records/")
    hub_auth = HubOAuth(cache_max_age=60)
    base_url = os.environ.get("JUPYTERHUB_BASE_URL", "/")
    # e-mail reminders (off unless --reminders), sent from the loop below once a day
    reminders = ReminderService(
        reminder_config.from_args(args, os.environ, records.public_url), records
    )
    app = make_app(records, prefix, hub_auth, base_url + "hub/", base_url, reminders=reminders)
    # the roster upload alone raises its own limit, once the sender is known to be HR
    port = listen(HTTPServer(app, max_body_size=MAX_BODY), args)
    log.info("records service on %s:%s%s", args.ip, port, prefix)
    lifeline.watch_hub(log)  # a killed hub takes us along: its restart starts us again
    while True:
        await records.sync()
        done = gdpr.apply_retention(config, records.store, records.today(), by="gallring")
        if done:
            records.changed()
            log.info("retention: %d former employees pseudonymised", len(done))
        await reminders.tick()
        await asyncio.sleep(args.sync_interval)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Omsorgslyft records service")
    parser.add_argument("--root", required=True, help="the project folder")
    parser.add_argument("--db-url", default="")
    parser.add_argument("--submissions-url", default="")
    parser.add_argument("--gradebook-url", default="")
    parser.add_argument("--answers-url", default="")
    parser.add_argument(
        "--ip",
        default="127.0.0.1",
        help="the address to listen on (default: loopback, where the hub on the same machine "
        "reaches it; 0.0.0.0 in a Kubernetes pod, docs/kubernetes.md)",
    )
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--retention-months", type=int, default=24)
    parser.add_argument(
        "--public-url",
        default="http://127.0.0.1:8000",
        help="the address people reach the platform at (links in e-mails, certificates)",
    )
    parser.add_argument("--sync-interval", type=float, default=30.0)
    parser.add_argument(
        "--reserved-users",
        default=",".join(ALWAYS_RESERVED),
        help="comma-separated usernames a roster may never name (besides the hub's admins "
        "and the members of the groups utbildare and hr, which the hub is asked for)",
    )
    reminder_config.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(arguments().parse_args(argv)))


if __name__ == "__main__":
    main()
