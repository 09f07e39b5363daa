"""Grading on a shared queue: Celery over RabbitMQ, workers on any host.

Opt-in (``HubSettings.grading_queue``, the service's ``--queue``): the grading service
then accepts submissions exactly as before (validated, written to the shared submission
log on PostgreSQL and to ``submitted/`` before it answers), and instead of grading them
in its own worker processes it publishes one task per submission to a durable queue.
Grading workers (:mod:`omsorgslyft.grading.worker`, any number, on any host) take one
task at a time and record the grade in the shared log; the service learns it from there
(:class:`QueueGrader` polls the log for the submissions someone waits for), so a
request still waits up to ``WAIT_SECONDS`` for its grade.

Why Celery on RabbitMQ: a task is acknowledged only after it has been graded
(``task_acks_late``); a worker that dies mid-grade, even by SIGKILL, loses its broker
connection and RabbitMQ hands the task to another worker at once (no visibility timeout
to wait out, as on Redis; no stalled-job sweeper to run, as with procrastinate). A
worker whose pool child dies is covered by ``task_reject_on_worker_lost``. Exactly one
grade per submission does not rely on the broker delivering once: the worker grades under
the learner's lock in PostgreSQL and records the grade only if the submission is still
``mottagen`` (:meth:`GradingCore.grade_and_record` with ``exclusive``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import Celery

from omsorgslyft.grading.grader import GradingCore, Scheduling
from omsorgslyft.grading.submissions import RECEIVED, Submission, SubmissionLog

log = logging.getLogger("omsorgslyft.grading")

#: the queue's default name and the task's name (the worker and the service agree on both)
QUEUE = "omsorgslyft-grading"
TASK = "omsorgslyft.grading.grade"
#: seconds between the service's looks at the log for grades someone waits for
POLL_SECONDS = 0.2
#: seconds between attempts to publish what could not be published (broker away)
RESEND_SECONDS = 5.0
#: a submission still ``mottagen`` this long after it came is published again (a task
#: lost on the way: a second task for it costs a look at the log)
STALE_SECONDS = 600.0


def make_celery(broker: str, queue: str = QUEUE) -> Celery:
    """A Celery app for the grading queue at ``broker`` (``amqp://user:pw@host:5672/vhost``)."""
    app = Celery("omsorgslyft-grading", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # the grade is in the submission log
        task_acks_late=True,  # acknowledged once graded: a dead worker's task is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # one task reserved per worker: the rest wait for others
        task_publish_retry=False,  # the service retries itself (RESEND_SECONDS), off its loop
        broker_connection_retry_on_startup=True,
        broker_transport_options={"confirm_publish": True},  # published = on the broker
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def requires_postgresql(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        raise SystemExit(
            "A grading queue needs the submission log on PostgreSQL (--db-url postgresql+psycopg://…): "
            "workers on other hosts record their grades there."
        )


class QueueGrader(Scheduling):
    """The grading service's side of the queue: accept, publish, and watch the log.

    The same interface as :class:`~omsorgslyft.grading.grader.Grader` (``accept``,
    ``start``, ``shutdown``, ``listeners``, ``log``, ``modules``), without worker processes.
    """

    def __init__(
        self,
        course_dir: Path,
        modules_dir: Path,
        db_url: str,
        broker: str,
        queue: str = QUEUE,
        gradebook_url: str = "",
        poll: float = POLL_SECONDS,
    ) -> None:
        requires_postgresql(db_url)
        self.core = GradingCore(course_dir, modules_dir, SubmissionLog(db_url), gradebook_url)
        self.celery = make_celery(broker, queue)
        self.queue = queue
        self.poll = poll
        self.listeners: list[Callable[[Submission], None]] = []
        self._waiting: set[str] = set()  # published (or to be), grade not yet seen
        self._unsent: set[str] = set()
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="grading-queue")
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Publish what was left ``mottagen`` (a second task for one is harmless), and watch."""
        for sub in self.log.pending():
            self.schedule(sub)
        self._watcher = asyncio.ensure_future(self._watch())

    def seen_again(self, sub: Submission) -> None:
        if sub.status == RECEIVED:
            self._waiting.add(sub.id)  # someone may wait for it here too

    def schedule(self, sub: Submission) -> None:
        self._waiting.add(sub.id)
        self._sender.submit(self._publish, sub.id)

    def _publish(self, sid: str) -> None:
        try:
            self.celery.send_task(TASK, args=[sid], queue=self.queue)
        except Exception as exc:
            log.warning("could not queue %s (%s); trying again", sid, exc)
            self._unsent.add(sid)
        else:
            self._unsent.discard(sid)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        resend_at = loop.time() + RESEND_SECONDS
        stale_at = loop.time() + STALE_SECONDS
        while True:
            await asyncio.sleep(self.poll)
            try:
                if self._unsent and loop.time() >= resend_at:
                    resend_at = loop.time() + RESEND_SECONDS
                    for sid in list(self._unsent):
                        self._sender.submit(self._publish, sid)
                if loop.time() >= stale_at:
                    stale_at = loop.time() + STALE_SECONDS
                    self._republish_stale()
                if self._waiting:
                    self._notify(self.log.statuses(list(self._waiting)))
            except Exception:
                log.exception("watching the grading queue's results failed")

    def _republish_stale(self) -> None:
        old = datetime.now(UTC) - timedelta(seconds=STALE_SECONDS)
        for sub in self.log.pending():
            received = (
                sub.received_at if sub.received_at.tzinfo else sub.received_at.replace(tzinfo=UTC)
            )
            if received < old and sub.id not in self._unsent:
                log.warning("%s has waited for a grade since %s; queued again", sub.id, received)
                self.schedule(sub)

    def _notify(self, statuses: dict[str, str]) -> None:
        for sid in list(self._waiting):
            status = statuses.get(sid)
            if status == RECEIVED:
                continue
            self._waiting.discard(sid)
            final = self.log.get(sid) if status is not None else None
            if final is None:
                continue
            for listener in self.listeners:
                listener(final)

    def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        # what is not published yet is in the log: the next start publishes it
        self._sender.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.celery.close()
