"""Accept submissions durably and autograde them with nbgrader in worker processes.

nbgrader and the module models are loaded once when a worker starts, never per
submission. A submission is written to the log and to nbgrader's ``submitted/`` layout
(fsynced) before it is acknowledged; anything acknowledged but not yet graded is graded
again after a restart. Submissions of one learner are graded one after another; different
learners' in parallel, one per worker process. A worker process ends when the service
does, also when the service is killed with SIGKILL (:func:`die_with_parent`).

With a shared queue (:mod:`omsorgslyft.grading.taskqueue`) the service only accepts, and
:class:`GradingCore` runs in grading workers on any host instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat

from omsorgslyft.answers import InvalidAnswer, validate_answer
from omsorgslyft.attempts import limit_message, next_attempt
from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.authoring.draws import draw_variants, variant_name
from omsorgslyft.grading.course import Course, fill_answers
from omsorgslyft.grading.review import build_result
from omsorgslyft.grading.submissions import DONE, FAILED, RECEIVED, Submission, SubmissionLog
from omsorgslyft.model import Module

log = logging.getLogger("omsorgslyft.grading")


RENEW_AFTER = timedelta(days=30)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Rejected(Exception):
    """A submission that cannot be accepted (HTTP status and a Swedish message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GradingCore:
    """The course, the modules and the submission log; used by the service and its workers.

    ``assignments`` maps each variant's nbgrader assignment (``kasam-v1-b``) to its module
    and the questions it asks, as built (read from the released notebooks).
    """

    def __init__(
        self,
        course_dir: Path,
        modules_dir: Path,
        submissions: SubmissionLog,
        gradebook_url: str = "",
        prestart: int = 0,
    ) -> None:
        self.course = Course(course_dir, gradebook_url or None, prestart=prestart)
        modules, problems = load_modules([modules_dir], modules_dir.parent)
        if problems:
            raise RuntimeError("\n".join(map(str, problems)))
        self.modules: dict[str, Module] = {}
        self.releases: dict[str, nbformat.NotebookNode] = {}
        self.assignments: dict[str, tuple[str, list[str]]] = {}
        for m in modules:
            for letter in draw_variants(m):
                name = variant_name(m.id, m.version, letter)
                release = self.course.release_path(name)
                if not release.is_file():
                    continue
                nb = nbformat.read(release, as_version=4)
                self.modules[m.id] = m
                self.releases[name] = nb
                self.assignments[name] = (m.id, list(nb.metadata["omsorgslyft"]["questions"]))
        self.log = submissions

    # -- accepting ----------------------------------------------------------------------
    def accept(
        self,
        sid: str,
        learner: str,
        module_id: str,
        version: int,
        answers: Any,
        variant: str = "",
    ) -> tuple[Submission, bool]:
        if not sid or len(sid) > 64 or not sid.replace("-", "").isalnum():
            raise Rejected(400, "Ogiltigt inlämnings-id.")
        if not learner or len(learner) > 200:
            raise Rejected(400, "Ogiltig deltagare.")
        existing = self.log.get(sid)
        if existing is not None:
            if (existing.learner, existing.module) != (learner, module_id):
                raise Rejected(409, "Inlämnings-id:t används redan.")
            return existing, False
        module = self.modules.get(module_id)
        if module is None:
            raise Rejected(404, "Modulen finns inte.")
        if version != module.version:
            raise Rejected(409, "Modulen har uppdaterats. Ladda om sidan och svara på nytt.")
        name = variant_name(module_id, version, variant or "a")
        if name not in self.assignments:
            raise Rejected(409, "Försöket finns inte längre. Ladda om sidan.")
        if not isinstance(answers, dict):
            raise Rejected(400, "Svaren ska vara ett objekt.")
        asked = set(self.assignments[name][1])
        if not set(map(str, answers)) <= asked:
            raise Rejected(400, "Svaren gäller en fråga som inte ingår i ditt försök.")
        schema = self.releases[name].metadata["omsorgslyft"]["blocks"]
        clean: dict[str, Any] = {}
        for key, value in answers.items():
            try:
                clean[key] = validate_answer(schema, "svar", str(key), value)
            except InvalidAnswer as exc:
                raise Rejected(400, f"Ogiltigt svar på {key}: {exc}.") from None
        if all(v in (None, [], {}) for v in clean.values()):
            raise Rejected(
                400, "Du har inte svarat på någon fråga än. Svara på frågorna och lämna in sedan."
            )
        if self.has_passed(learner, module):
            raise Rejected(409, "Du är redan godkänd på den här versionen av modulen.")
        self.check_attempts(learner, module)
        sub, new = self.log.receive(sid, learner, module_id, version, clean, variant=name)
        if new:
            self._write_submitted(sub)
        return sub, new

    def check_attempts(self, learner: str, module: Module) -> None:
        """At most ``försök-per-dag`` graded attempts in any 24 hours (kept in the log, so
        the limit holds across restarts)."""
        now = datetime.now(UTC)
        times = [
            s.received_at
            for s in self.log.for_learner(learner)
            if s.module == module.id and s.status != FAILED
        ]
        opens = next_attempt(times, module.check.attempts_per_day, now)
        if opens is not None:
            raise Rejected(429, limit_message(module.check.attempts_per_day, opens, now))

    def has_passed(self, learner: str, module: Module) -> bool:
        """Passed this version recently: a new attempt would change nothing.

        After ``RENEW_AFTER`` a pass may be renewed (its validity runs out in time, and the
        courses decide how long it holds); a renewal that fails does not undo the pass.
        """
        recent = datetime.now(UTC) - RENEW_AFTER
        return any(
            s.status == DONE
            and s.version == module.version
            and s.result
            and s.result.get("passed")
            and _aware(s.received_at) > recent
            for s in self.log.for_learner(learner)
            if s.module == module.id
        )

    def _assignment(self, sub: Submission) -> str:
        return sub.variant if sub.variant in self.assignments else sub.module

    def _write_submitted(self, sub: Submission) -> Path:
        name = self._assignment(sub)
        filled = fill_answers(self.releases[name], sub.answers)
        path = self.course.submit(name, sub.learner, filled)
        stamp = path.parent / "timestamp.txt"
        stamp.write_text(sub.received_at.strftime("%Y-%m-%d %H:%M:%S.%f %Z"), encoding="utf-8")
        return path

    # -- grading ------------------------------------------------------------------------
    def grade_and_record(self, sid: str, exclusive: bool = False) -> bool:
        """Grade a submission still ``mottagen`` and record its grade; whether this call did.

        ``exclusive`` (queue workers, any number on any host): hold the learner's lock in
        the shared log while grading (:meth:`SubmissionLog.learner_lock`) and look at the
        status again under it, so a task delivered twice, or again after its worker died
        mid-grade, is graded by one worker at a time and recorded once. Either way the
        grade is recorded only if the submission is still ``mottagen``.
        """
        sub = self.log.get(sid)
        if sub is None or sub.status != RECEIVED:
            return False
        guard = self.log.learner_lock(sub.learner) if exclusive else contextlib.nullcontext()
        with guard:
            if exclusive:
                sub = self.log.get(sid)
                if sub is None or sub.status != RECEIVED:
                    return False
                log.info("grading %s", sid)
            try:
                result = self.grade(sub)
            except Exception:
                log.exception("autograde of %s failed", sid)
                return self.log.finish(
                    sid, FAILED, {"error": "Rättningen misslyckades. Försök igen om en stund."}
                )
            recorded = self.log.finish(sid, DONE, result)
            if not recorded:
                log.warning("%s was already graded; this grade is not recorded", sid)
            elif exclusive:
                log.info("graded %s: %s of %s", sid, result.get("score"), result.get("max_score"))
            return recorded

    def grade(self, sub: Submission) -> dict[str, Any]:
        name = self._assignment(sub)
        module = self.modules[sub.module]
        self._write_submitted(sub)  # the file on disk is this submission's, even after a retry
        graded = self.course.autograde(name, sub.learner)
        asked = self.assignments[name][1]
        return build_result(module, sub.id, name, asked, sub.answers, graded)


_WORKER: GradingCore | None = None
#: seconds between a worker's checks that the grading service still runs
PARENT_POLL = 0.5


def die_with_parent(parent: int, interval: float = PARENT_POLL) -> None:
    """End this process as soon as ``parent`` is no longer its parent.

    A grading service killed with SIGKILL cannot stop its workers; without this they would
    wait for work forever (re-parented to init), each with its pre-started kernels. A
    thread polls ``getppid()`` rather than ``PR_SET_PDEATHSIG``, which follows the parent
    *thread* that started the process (any thread of the service may start a worker). The
    worker's kernels die with it (:mod:`omsorgslyft.grading.gradekernel`).
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_start(
    course_dir: str,
    modules_dir: str,
    db_url: str,
    gradebook_url: str,
    prestart: int,
    parent: int = 0,
) -> None:
    global _WORKER
    if parent:
        die_with_parent(parent)
    os.environ["OMSORGSLYFT_GRADING"] = "1"  # before the kernels start: they inherit it
    _WORKER = GradingCore(
        Path(course_dir), Path(modules_dir), SubmissionLog(db_url), gradebook_url, prestart
    )


def _worker_ready() -> int:
    return os.getpid()


def _worker_grade(sid: str) -> None:
    assert _WORKER is not None
    _WORKER.grade_and_record(sid)


class Scheduling:
    """What the grading service uses of a grader: accept a submission durably, then hand
    it to whatever grades (:class:`Grader`'s worker processes, or the shared queue's
    workers, :class:`omsorgslyft.grading.taskqueue.QueueGrader`)."""

    core: GradingCore
    listeners: list[Callable[[Submission], None]]

    @property
    def log(self) -> SubmissionLog:
        return self.core.log

    @property
    def modules(self) -> dict[str, Module]:
        return self.core.modules

    def accept(
        self,
        sid: str,
        learner: str,
        module_id: str,
        version: int,
        answers: Any,
        variant: str = "",
    ) -> tuple[Submission, bool]:
        sub, new = self.core.accept(sid, learner, module_id, version, answers, variant)
        if new:
            self.schedule(sub)
        else:
            self.seen_again(sub)
        return sub, new

    def schedule(self, sub: Submission) -> None:
        raise NotImplementedError

    def seen_again(self, sub: Submission) -> None:
        """A submission sent again (the same id): by default nothing to do."""


class Grader(Scheduling):
    """Schedules accepted submissions on a pool of worker processes.

    ``prestart``: kernels each worker keeps started for the next submissions (single-use:
    each grades one submission and is shut down; 0 starts one per submission).
    """

    def __init__(
        self,
        course_dir: Path,
        modules_dir: Path,
        db_url: str,
        workers: int = 2,
        gradebook_url: str = "",
        prestart: int = 5,
    ) -> None:
        # this process only accepts: the workers grade, with their own kernels
        self.core = GradingCore(course_dir, modules_dir, SubmissionLog(db_url), gradebook_url)
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(
                str(course_dir),
                str(modules_dir),
                db_url,
                gradebook_url,
                prestart,
                os.getpid(),
            ),
        )
        self.workers = workers
        self.listeners: list[Callable[[Submission], None]] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start every worker (imports happen now), then regrade what was left pending."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self.pool, _worker_ready) for _ in range(self.workers))
        )
        for sub in self.log.pending():
            self.schedule(sub)

    def schedule(self, sub: Submission) -> None:
        task = asyncio.ensure_future(self._grade(sub))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _grade(self, sub: Submission) -> None:
        lock = self._locks.setdefault(sub.learner, asyncio.Lock())
        async with lock:
            await asyncio.get_running_loop().run_in_executor(self.pool, _worker_grade, sub.id)
        final = self.log.get(sub.id)
        if final is not None:
            for listener in self.listeners:
                listener(final)

    def shutdown(self) -> None:
        """Stop the workers: a grading in progress is abandoned and redone at the next start."""
        processes = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
