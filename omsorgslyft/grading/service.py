"""The grading service: a hub-managed HTTP API in front of :class:`Grader`.

Only callers whose hub token carries ``custom:omsorgslyft:submit`` (the learn service) may
submit or read results. A submission is durable before the service answers; the answer
waits a few seconds for the grade so the learner usually sees it at once.

    python -m omsorgslyft.grading.service --course-dir grading --modules-dir modules

With ``--queue amqp://…`` (and the log on PostgreSQL) the service only accepts and
queues; grading workers on any host grade (:mod:`omsorgslyft.grading.taskqueue`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer

from omsorgslyft import lifeline
from omsorgslyft.grading.grader import Grader, Rejected
from omsorgslyft.grading.indexes import HAND_GRADED, ensure_gradebook_indexes
from omsorgslyft.grading.review import learner_view
from omsorgslyft.grading.submissions import RECEIVED, Submission
from omsorgslyft.lifeline import listen
from omsorgslyft.priority import lower_priority

if TYPE_CHECKING:
    from omsorgslyft.grading.taskqueue import QueueGrader

#: grading in this service's worker processes, or on the shared queue (``--queue``)
AnyGrader: TypeAlias = "Grader | QueueGrader"

SUBMIT_SCOPE = "custom:omsorgslyft:submit"
MAX_BODY = 256 * 1024
WAIT_SECONDS = 20.0


def public(sub: Submission, grader: AnyGrader) -> dict[str, Any]:
    """A submission as the learn service gets it: the result as the learner may see it."""
    return {
        "id": sub.id,
        "learner": sub.learner,
        "module": sub.module,
        "version": sub.version,
        "variant": sub.variant,
        "status": sub.status,
        "received_at": sub.received_at.isoformat(),
        "result": learner_view(sub.result, grader.modules.get(sub.module)),
    }


class Waiters:
    """Lets request handlers wait for a worker to finish a submission."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}

    def event(self, sid: str) -> asyncio.Event:
        return self.events.setdefault(sid, asyncio.Event())

    def done(self, sub: Submission) -> None:
        self.event(sub.id).set()


class BaseHandler(web.RequestHandler):
    @property
    def hub_auth(self) -> HubAuth:
        return self.settings["hub_auth"]

    @property
    def grader(self) -> AnyGrader:
        return self.settings["grader"]

    def write_json(self, status: int, data: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False))

    async def prepare(self) -> None:
        token = self.hub_auth.get_token(self, in_cookie=False)
        model = await self.hub_auth.user_for_token(token, sync=False) if token else None
        if model is None:
            self.write_json(401, {"error": "Inloggning krävs."})
            return
        if not self.hub_auth.check_scopes({SUBMIT_SCOPE}, model):
            self.write_json(403, {"error": "Saknar behörighet."})


class SubmissionsHandler(BaseHandler):
    async def post(self) -> None:
        if len(self.request.body) > MAX_BODY:
            self.write_json(413, {"error": "Inlämningen är för stor."})
            return
        try:
            body = json.loads(self.request.body)
            args = (
                body["id"],
                body["learner"],
                body["module"],
                int(body["version"]),
                body["answers"],
                str(body.get("variant", "")),
            )
        except (ValueError, KeyError, TypeError):
            self.write_json(400, {"error": "Inlämningen går inte att läsa."})
            return
        try:
            sub, new = self.grader.accept(*args)
        except Rejected as exc:
            self.write_json(exc.status, {"error": exc.message})
            return
        if sub.status == RECEIVED:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settings["waiters"].event(sub.id).wait(), WAIT_SECONDS)
            latest = self.grader.log.get(sub.id)
            assert latest is not None
            sub = latest
        self.write_json(201 if new else 200, public(sub, self.grader))


class SubmissionHandler(BaseHandler):
    def get(self, sid: str) -> None:
        sub = self.grader.log.get(sid)
        if sub is None:
            self.write_json(404, {"error": "Ingen sådan inlämning."})
        else:
            self.write_json(200, public(sub, self.grader))


class LearnerHandler(BaseHandler):
    def get(self, learner: str) -> None:
        self.write_json(200, [public(s, self.grader) for s in self.grader.log.for_learner(learner)])


def make_app(grader: AnyGrader, prefix: str, hub_auth: HubAuth) -> web.Application:
    waiters = Waiters()
    grader.listeners.append(waiters.done)
    return web.Application(
        [
            (url_path_join(prefix, "api/submissions"), SubmissionsHandler),
            (url_path_join(prefix, r"api/submissions/([A-Za-z0-9-]{1,64})"), SubmissionHandler),
            (url_path_join(prefix, r"api/learners/([^/]{1,200})/submissions"), LearnerHandler),
        ],
        grader=grader,
        hub_auth=hub_auth,
        waiters=waiters,
    )


async def serve(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO, format="[grading %(levelname)s %(asctime)s] %(message)s"
    )
    # before the worker processes and their kernels start: they inherit it
    lower_priority(args.nice, logging.getLogger("omsorgslyft.grading"))
    course_dir = Path(args.course_dir).resolve()
    db_url = args.db_url or f"sqlite:///{course_dir / 'submissions.db'}"
    grader: AnyGrader
    if args.queue:
        from omsorgslyft.grading.taskqueue import QueueGrader

        grader = QueueGrader(
            course_dir,
            Path(args.modules_dir).resolve(),
            db_url,
            args.queue,
            queue=args.queue_name,
            gradebook_url=args.gradebook_url,
        )
    else:
        grader = Grader(
            course_dir,
            Path(args.modules_dir).resolve(),
            db_url,
            workers=args.workers,
            prestart=args.prestart,
            gradebook_url=args.gradebook_url,
        )
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grading/")
    app = make_app(grader, prefix, HubAuth())
    # the records service's read of hand-graded scores goes through this index
    gradebook = args.gradebook_url or f"sqlite:///{course_dir / 'gradebook.db'}"
    if ensure_gradebook_indexes(gradebook):
        logging.info("made the index %s on the gradebook", HAND_GRADED)
    await grader.start()
    server = HTTPServer(app, max_body_size=MAX_BODY * 2)
    port = listen(server, args)
    logging.info(
        "grading service on %s:%s%s with %d modules", args.ip, port, prefix, len(grader.modules)
    )
    lifeline.watch_hub(logging.getLogger("omsorgslyft.grading"))  # a killed hub takes us along
    # JupyterHub stops a service with SIGTERM: take the worker processes down with us
    # (anything acknowledged but not graded is in the log and is graded at the next start)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logging.info("grading service stopping")
    server.stop()
    grader.shutdown()


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Omsorgslyft grading service")
    parser.add_argument("--course-dir", required=True)
    parser.add_argument("--modules-dir", required=True)
    parser.add_argument("--db-url", default="", help="the submission log (default: SQLite)")
    parser.add_argument(
        "--gradebook-url", default="", help="nbgrader's gradebook (default: SQLite in the course)"
    )
    parser.add_argument(
        "--ip",
        default="127.0.0.1",
        help="the address to listen on (default: loopback, where the hub on the same machine "
        "reaches it; 0.0.0.0 in a Kubernetes pod, docs/kubernetes.md)",
    )
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--workers", type=int, default=2, help="autograde worker processes")
    parser.add_argument(
        "--prestart",
        type=int,
        default=5,
        help="kernels each worker keeps started for the next submissions (single-use)",
    )
    parser.add_argument(
        "--queue",
        default=os.environ.get("OMSORGSLYFT_GRADING_QUEUE", ""),
        help="grade on a shared queue at this broker (amqp://…) by grading workers "
        "(python -m omsorgslyft.grading.worker) instead of in this service's own workers; "
        "needs --db-url on PostgreSQL (default: $OMSORGSLYFT_GRADING_QUEUE)",
    )
    parser.add_argument("--queue-name", default="omsorgslyft-grading")
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="CPU priority as nice(1)'s, 0-19, for grading and its kernels (default 10: "
        "learners' pages go first; omsorgslyft.priority)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(arguments().parse_args(argv)))


if __name__ == "__main__":
    main()
