"""Autograding with pre-started, single-use kernels (``Course(prestart=...)``).

Nothing here is about time: these check that a pre-started kernel is really used, that
no kernel grades twice, that used kernels go away, that a dead kernel is replaced or the
submission regraded, and that nbgrader's gradebook holds what it should.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from nbclient import NotebookClient
from platform_fixture import ROOT

from omsorgslyft.grading.build import Assignment, Built, build_modules
from omsorgslyft.grading.course import Course, fill_answers
from omsorgslyft.grading.kernelpool import KernelPool, kernel_pid

from answers import right_answers, wrong_answers

pytestmark = pytest.mark.slow

MODULE = "exempelmodul"  # its first variant is the assignment graded here


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "docs" / MODULE, root / "modules" / MODULE)
    (b,) = build_modules([root / "modules"], root, root / "grading")
    return b


@pytest.fixture(scope="module")
def assignment(built: Built) -> Assignment:
    """The first variant's nbgrader assignment (``exempelmodul-v1-a``)."""
    return next(iter(built.assignments.values()))


@pytest.fixture(scope="module")
def top(built: Built, assignment: Assignment) -> float:
    return float(
        sum(q.points for q in built.module.graded_questions if q.id in assignment.questions)
    )


@pytest.fixture
def grading_dir(built: Built, tmp_path: Path) -> Path:
    target = tmp_path / "grading"
    shutil.copytree(built.page.parents[2], target)
    return target


@pytest.fixture(autouse=True)
def grading_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMSORGSLYFT_GRADING", "1")  # as the grading workers set it


@pytest.fixture
def no_kernel_started_by_nbclient(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts kernels nbclient starts itself (it must start none when the pool has one)."""
    started: list[int] = []
    original = NotebookClient.async_start_new_kernel

    async def counting(self: NotebookClient, **kwargs: Any) -> None:
        started.append(1)
        await original(self, **kwargs)

    monkeypatch.setattr(NotebookClient, "async_start_new_kernel", counting)
    return started


@pytest.fixture
def course(grading_dir: Path) -> Iterator[Course]:
    c = Course(grading_dir, prestart=2)
    try:
        yield c
    finally:
        c.close()


def pool(course: Course) -> KernelPool:
    assert course.kernels is not None
    return course.kernels


def wait_for(predicate: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def full_pool(course: Course) -> list[int]:
    wait_for(lambda: len(pool(course).ready_pids()) == pool(course).size)
    return pool(course).ready_pids()


def record_leases(
    course: Course, monkeypatch: pytest.MonkeyPatch, after: Callable[[int], None] | None = None
) -> list[int]:
    """The process id of every kernel the course takes from its pool."""
    leased: list[int] = []
    kernels = pool(course)
    take = kernels.take

    def recording() -> Any:
        km = take()
        pid = kernel_pid(km)
        assert pid is not None
        leased.append(pid)
        if after is not None:
            after(pid)
        return km

    monkeypatch.setattr(kernels, "take", recording)
    return leased


def submit(course: Course, built: Built, a: Assignment, student: str, right: bool = True) -> None:
    released = nbformat.read(a.release, as_version=4)
    answers = right_answers(built.module) if right else wrong_answers(built.module)
    asked = {k: v for k, v in answers.items() if k in a.questions}
    course.submit(a.name, student, fill_answers(released, asked))


def gone(pid: int, seconds: float = 20) -> bool:
    try:
        psutil.Process(pid).wait(timeout=seconds)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def submissions_of(course: Course, a: Assignment, student: str) -> list[Any]:
    """Every submission of ``student`` in nbgrader's gradebook (any assignment)."""
    from nbgrader.api import Gradebook

    with Gradebook(course.coursedir.db_url, course.coursedir.course_id) as gb:
        return [
            (s.assignment.name, float(s.score), float(s.max_score))
            for s in gb.find_student(student).submissions
        ]


def test_prestart_zero_starts_no_kernel(grading_dir: Path) -> None:
    course = Course(grading_dir)
    assert course.kernels is None
    course.close()


def test_each_autograde_uses_its_own_prestarted_kernel(
    course: Course,
    built: Built,
    assignment: Assignment,
    top: float,
    monkeypatch: pytest.MonkeyPatch,
    no_kernel_started_by_nbclient: list[int],
) -> None:
    waiting = full_pool(course)
    leased = record_leases(course, monkeypatch)

    submit(course, built, assignment, "anna")
    first = course.autograde(assignment.name, "anna")
    submit(course, built, assignment, "bo", right=False)
    second = course.autograde(assignment.name, "bo")

    assert (first.score, first.max_score) == (top, top)
    assert second.score == 0
    assert no_kernel_started_by_nbclient == [], "the autograde started a kernel of its own"
    assert leased[0] in waiting, "the first autograde ran in a kernel that was waiting"
    assert len(set(leased)) == 2, "a kernel graded two submissions"
    for pid in leased:
        assert gone(pid), f"kernel {pid} still runs after its autograde"
    # the pool fills up again with new kernels
    refilled = full_pool(course)
    assert not set(refilled) & set(leased)


def test_gradebook_has_one_submission_with_the_score(
    course: Course,
    built: Built,
    assignment: Assignment,
    top: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leased = record_leases(course, monkeypatch)
    submit(course, built, assignment, "cecilia", right=False)
    assert course.autograde(assignment.name, "cecilia").score == 0
    submit(course, built, assignment, "cecilia")  # a new attempt replaces the submitted notebook
    result = course.autograde(assignment.name, "cecilia")
    assert result.score == top
    assert submissions_of(course, assignment, "cecilia") == [(assignment.name, top, top)]
    assert {q.question_id for q in result.questions} == set(assignment.questions)
    assert len(set(leased)) == 2


def test_kernel_killed_while_waiting_is_replaced(
    course: Course,
    built: Built,
    assignment: Assignment,
    top: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed = full_pool(course)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    for pid in killed:
        assert gone(pid)
    leased = record_leases(course, monkeypatch)
    submit(course, built, assignment, "david")
    assert course.autograde(assignment.name, "david").score == top
    assert leased and not set(leased) & set(killed)
    assert not set(full_pool(course)) & set(killed)


def test_kernel_dying_mid_grade_is_regraded_in_a_fresh_one(
    course: Course,
    built: Built,
    assignment: Assignment,
    top: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full_pool(course)

    def kill_first(pid: int) -> None:
        if len(leased) == 1:
            os.kill(pid, signal.SIGKILL)

    leased = record_leases(course, monkeypatch, after=kill_first)
    submit(course, built, assignment, "erik")
    assert course.autograde(assignment.name, "erik").score == top
    assert len(leased) == 2 and leased[0] != leased[1]
    assert submissions_of(course, assignment, "erik") == [(assignment.name, top, top)]


def test_kernels_dying_every_time_fail_cleanly(
    course: Course,
    built: Built,
    assignment: Assignment,
    top: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full_pool(course)
    leased = record_leases(course, monkeypatch, after=lambda pid: os.kill(pid, signal.SIGKILL))
    submit(course, built, assignment, "frida")
    with pytest.raises(RuntimeError, match="autograde"):
        course.autograde(assignment.name, "frida")
    assert len(leased) == 2


def test_close_stops_every_kernel(grading_dir: Path) -> None:
    course = Course(grading_dir, prestart=2)
    pids = full_pool(course)
    course.close()
    for pid in pids:
        assert gone(pid)
    course.close()  # twice is fine


def test_pool_kernels_run_without_the_debugger(course: Course) -> None:
    """The grading kernel is IPython's own, started without debugpy (a third of its
    start-up CPU): its command line says so, and it has not imported the debugger."""
    import psutil
    from jupyter_client import BlockingKernelClient

    for pid in full_pool(course):
        cmdline = psutil.Process(pid).cmdline()
        assert "omsorgslyft.grading.gradekernel" in cmdline, cmdline
    km = pool(course).take()
    seen: list[str] = []
    try:
        kc = BlockingKernelClient(connection_file=km.connection_file)
        kc.load_connection_file()
        kc.start_channels()
        try:
            reply = kc.execute_interactive(
                "import sys\nprint(sys.modules.get('debugpy', 'absent'), 'ipykernel' in sys.modules)",
                timeout=30,
                output_hook=lambda msg: seen.append(msg["content"].get("text", "")),
            )
        finally:
            kc.stop_channels()
    finally:
        pool(course).retire(km)
    assert reply["content"]["status"] == "ok"
    assert "".join(seen).split() == ["None", "True"]
