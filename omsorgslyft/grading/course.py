"""The nbgrader course: configuration, assignment generation and autograding.

Everything goes through nbgrader's own Python API (``NbGraderAPI`` and its ``Autograde``
converter) in-process, so the expensive imports happen once. The course directory layout
is nbgrader's standard one: ``source/``, ``release/``, ``submitted/``, ``autograded/`` and
the gradebook database.

Autograding differs from ``nbgrader autograde`` in two ways, both about time:
``CheckCellMetadata`` runs once per submission (on the sanitized notebook, before it is
executed; nbgrader runs it again after execution, which changes no metadata), and with
``prestart`` the notebook runs in a kernel started ahead of time (:mod:`kernelpool`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
from nbformat import NotebookNode
from sqlalchemy import event
from traitlets.config import Config

from omsorgslyft.authoring.notebook import (
    SOLUTION_STUB,
    answer_cell_source,
    answers_cell_source,
)

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

    from omsorgslyft.grading.kernelpool import KernelPool

COURSE_ID = "omsorgslyft"
#: the command of a pre-started grading kernel (:mod:`omsorgslyft.grading.gradekernel`)
GRADE_KERNEL = [sys.executable, "-m", "omsorgslyft.grading.gradekernel", "-f", "{connection_file}"]
#: how many times one submission is graded when its kernel dies under it
KERNEL_ATTEMPTS = 2

log = logging.getLogger("omsorgslyft.grading")


def _ensure_alembic_on_path() -> None:
    """nbgrader shells out to ``alembic`` on first gradebook use; it lives beside python."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _sqlite_wal(connection: Any, _: Any) -> None:
    """The gradebook in WAL mode, like every Omsorgslyft store: a commit is one fsync of
    the log, and formgrader and the records service read while grading writes."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _share_gradebook_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this process.

    nbgrader opens its ``Gradebook`` about ten times per autograde, and each one creates a
    new engine, whose statement cache starts empty: every query is compiled again (about
    40 % of an autograde's CPU in the worker). nbgrader's own API has no way to pass an
    engine, so its module's ``create_engine`` is wrapped to hand back the engine it made
    for the same URL and options before. ``Gradebook.close()`` still disposes the
    engine's connections; the engine and its cache stay.
    """
    import nbgrader.api as api

    if getattr(api.create_engine, "omsorgslyft_shared", False):
        return
    original = api.create_engine
    engines: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
    lock = threading.Lock()

    def shared(url: Any, **options: Any) -> Any:
        key = (str(url), tuple(sorted(options.items())))
        with lock:
            if key not in engines:
                engine = original(url, **options)
                if engine.dialect.name == "sqlite":
                    event.listen(engine, "connect", _sqlite_wal)
                engines[key] = engine
            return engines[key]

    shared.omsorgslyft_shared = True  # type: ignore[attr-defined]
    api.create_engine = shared


def nbgrader_config(root: Path, db_url: str | None = None) -> Config:
    """nbgrader configuration for the course directory ``root``."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    if db_url:
        c.CourseDirectory.db_url = db_url
    c.ClearSolutions.code_stub = {"python": SOLUTION_STUB}
    c.ClearSolutions.enforce_metadata = True
    c.ClearHiddenTests.enforce_metadata = True
    # a module notebook runs in seconds; a stuck kernel must not block the grading worker
    c.Execute.timeout = 120
    return c


@dataclass(frozen=True)
class QuestionScore:
    question_id: str
    points: float
    max_points: float


@dataclass(frozen=True)
class GradeResult:
    module_id: str
    student_id: str
    score: float
    max_score: float
    questions: tuple[QuestionScore, ...]

    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0


class Course:
    """An nbgrader course directory driven through ``NbGraderAPI`` in this process.

    ``prestart`` is how many kernels this course keeps started and waiting for
    :meth:`autograde` (in a background thread of this process; see
    :class:`~omsorgslyft.grading.kernelpool.KernelPool`). Each kernel grades one
    submission and is then shut down in the background; a fresh one takes its place. With
    0 (the default, for ``omsorgslyft build`` and the records service) no kernel is started
    ahead and each autograde starts and stops its own, as ``nbgrader autograde`` does.
    A course with ``prestart`` must be closed with :meth:`close` (also done at exit).
    """

    def __init__(self, root: Path, db_url: str | None = None, prestart: int = 0) -> None:
        _ensure_alembic_on_path()
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        _share_gradebook_engines()
        self.root = root
        self.config = nbgrader_config(root, db_url)
        self.coursedir = CourseDirectory(config=self.config)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=self.config)
        self.kernels: KernelPool | None = None
        if prestart > 0:
            self.kernels = self._start_pool(prestart)

    def _start_pool(self, size: int) -> KernelPool:
        from nbgrader.preprocessors import Execute

        from omsorgslyft.grading.kernelpool import KernelPool

        # the kernel nbclient would start for nbgrader's Execute, with its arguments
        probe = Execute(config=self.config)
        pool = KernelPool(
            size,
            kernel_name=probe.kernel_name or "python3",
            extra_arguments=probe.extra_arguments,
            ipython_hist_file=probe.ipython_hist_file,
            # as nbgrader sets it around Execute; and the runtime knows it is grading. Of
            # the worker's own environment the kernel keeps only omsorgslyft.kernelenv's
            env={"NBGRADER_EXECUTION": "autograde", "OMSORGSLYFT_GRADING": "1"},
            startup_timeout=float(probe.startup_timeout),
            # IPython's kernel without its debugger (a third of its start-up CPU)
            argv=GRADE_KERNEL if (probe.kernel_name or "python3") == "python3" else None,
        )
        pool.start()
        return pool

    def close(self) -> None:
        """Stop the kernels waiting for submissions (if any). Idempotent."""
        if self.kernels is not None:
            self.kernels.close()

    def source_path(self, module_id: str) -> Path:
        return self.root / "source" / module_id / f"{module_id}.ipynb"

    def release_path(self, module_id: str) -> Path:
        return self.root / "release" / module_id / f"{module_id}.ipynb"

    def generate(self, module_id: str) -> None:
        """``nbgrader generate_assignment``: source -> release, answer key removed."""
        result: dict[str, Any] = self.api.generate_assignment(module_id, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError(
                f"nbgrader generate_assignment {module_id} failed:\n{result.get('error') or result.get('log')}"
            )

    def submit(self, module_id: str, student_id: str, notebook: NotebookNode) -> Path:
        """Store a filled notebook in nbgrader's ``submitted/`` layout (durably)."""
        folder = self.root / "submitted" / student_id / module_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{module_id}.ipynb"
        tmp = target.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            nbformat.write(notebook, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        return target

    def autograde(self, module_id: str, student_id: str) -> GradeResult:
        """``nbgrader autograde`` one submission and read the score back from the gradebook.

        With a kernel pool the notebook runs in a pre-started kernel of its own; if that
        kernel dies during the grading, the submission is graded again in a fresh one.
        """
        result: dict[str, Any] = {}
        attempts = KERNEL_ATTEMPTS if self.kernels is not None else 1
        for attempt in range(1, attempts + 1):
            km = self.kernels.take() if self.kernels is not None else None
            died = False
            try:
                result = self._autograde(module_id, student_id, km)
            finally:
                if km is not None and self.kernels is not None:
                    died = not self.kernels.alive(km)
                    self.kernels.retire(km)
            if result.get("success") or not died:
                break
            log.warning(
                "the kernel died while grading %s/%s (attempt %d)", module_id, student_id, attempt
            )
        if not result.get("success"):
            raise RuntimeError(
                f"nbgrader autograde {module_id}/{student_id} failed:\n{result.get('error') or result.get('log')}"
            )
        return self.grade(module_id, student_id)

    def _autograde(
        self, module_id: str, student_id: str, km: AsyncKernelManager | None
    ) -> dict[str, Any]:
        """What ``NbGraderAPI.autograde(force=True, create=True)`` does, with our preprocessors."""
        from nbgrader.converters import Autograde
        from nbgrader.utils import capture_log, temp_attrs

        with temp_attrs(self.coursedir, assignment_id=module_id, student_id=student_id):
            app = Autograde(coursedir=self.coursedir, parent=self.api)
            app.force = True
            app.create_student = True
            app.autograde_preprocessors = _autograde_preprocessors(app, km)
            out: dict[str, Any] = capture_log(app)
            return out

    def grade(self, module_id: str, student_id: str) -> GradeResult:
        from nbgrader.api import Gradebook

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            nb = gb.find_submission_notebook(module_id, module_id, student_id)
            questions = tuple(
                QuestionScore(g.name.removeprefix("test-"), float(g.score), float(g.max_score))
                for g in sorted(nb.grades, key=lambda g: g.name)
            )
            return GradeResult(
                module_id, student_id, float(nb.score), float(nb.max_score), questions
            )

    def clean(self) -> None:
        for sub in ("source", "release"):
            shutil.rmtree(self.root / sub, ignore_errors=True)


def _autograde_preprocessors(app: Any, km: AsyncKernelManager | None) -> list[Any]:
    """nbgrader's autograde preprocessors without the second ``CheckCellMetadata``; with
    ``km``, ``Execute`` runs the notebook in that (pre-started) kernel."""
    from nbgrader.preprocessors import CheckCellMetadata, Execute

    from omsorgslyft.grading.kernelpool import LeasedExecute

    chosen: list[Any] = []
    for pp in app.autograde_preprocessors:
        if pp is CheckCellMetadata:
            continue  # already run on this notebook by the sanitizing pass
        if pp is Execute and km is not None:
            pp = LeasedExecute(km, parent=app)
        chosen.append(pp)
    return chosen


def fill_answers(released: NotebookNode, answers: dict[str, object]) -> NotebookNode:
    """A copy of the released notebook with the learner's answers in its answer cells.

    ``answers`` maps question id to an already validated answer (option ids only). A
    variant's one answer cell (``svar``) gets every answer; in an assignment built before
    pools, each question's own cell (``svar-<id>``) gets its answer and unanswered ones
    keep their stub. No learner text becomes code.
    """
    filled = nbformat.from_dict(released)
    for cell in filled.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        if grade_id == "svar":
            cell.source = answers_cell_source(answers)
        elif grade_id.startswith("svar-") and grade_id.removeprefix("svar-") in answers:
            qid = grade_id.removeprefix("svar-")
            cell.source = answer_cell_source(qid, answers[qid])
    return filled
