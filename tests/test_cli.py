"""The command line: check, build (all or nothing) and preview in a real Voilà."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from omsorgslyft.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "exempelmodul"


def _project(tmp_path: Path, broken: bool) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "modules" / "exempelmodul")
    if broken:
        bad = tmp_path / "modules" / "trasig"
        bad.mkdir()
        text = (EXAMPLE / "module.md").read_text(encoding="utf-8")
        text = text.replace("id: exempelmodul", "id: trasig").replace(
            "- [x] Begriplighet", "- [ ] Begriplighet"
        )
        (bad / "module.md").write_text(text, encoding="utf-8")
    return tmp_path


def test_check_reports_file_line_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path, broken=True)
    assert main(["--root", str(root), "check"]) == 1
    out = capsys.readouterr().out
    assert 'modules/trasig/module.md:29: Frågan "ov-enkel" har inget rätt svar.' in out
    assert "modules/exempelmodul/module.md: ok" in out
    assert "2 moduler kontrollerade, 1 fel." in out


def test_check_passes_good_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _project(tmp_path, broken=False)
    assert main(["--root", str(root), "check"]) == 0
    assert "0 fel" in capsys.readouterr().out


def test_build_writes_nothing_when_a_module_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path, broken=True)
    assert main(["--root", str(root), "build"]) == 1
    assert not (root / "grading").exists()
    assert "Inget byggdes" in capsys.readouterr().err


@pytest.mark.slow
def test_build_writes_the_page_and_each_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path, broken=False)
    assert main(["--root", str(root), "build"]) == 0
    # the page learners open (no key), and the one variant's nbgrader assignment
    assert (root / "grading/release/exempelmodul/exempelmodul.ipynb").is_file()
    assert (root / "grading/source/exempelmodul-v1-a/exempelmodul-v1-a.ipynb").is_file()
    assert (root / "grading/release/exempelmodul-v1-a/exempelmodul-v1-a.ipynb").is_file()
    assert not (root / "grading/source/exempelmodul").exists()
    assert "rättas som exempelmodul-v1-a" in capsys.readouterr().out


@pytest.mark.slow
def test_build_records_the_assignments_in_a_postgresql_gradebook(tmp_path: Path) -> None:
    from databases import pg_database
    from nbgrader.api import Gradebook

    from omsorgslyft.grading.course import _ensure_alembic_on_path

    root = _project(tmp_path, broken=False)
    for url in pg_database():
        _ensure_alembic_on_path()
        assert main(["--root", str(root), "build", "--gradebook-url", url]) == 0
        # where autograding looks each assignment up; not in the course's SQLite file
        with Gradebook(url, course_id="omsorgslyft") as gb:
            assert [a.name for a in gb.assignments] == ["exempelmodul-v1-a"]
            assert gb.find_assignment("exempelmodul-v1-a").notebooks
        assert not (root / "grading" / "gradebook.db").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_preview_serves_the_module_in_voila(tmp_path: Path) -> None:
    root = _project(tmp_path, broken=False)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omsorgslyft.cli",
            "--root",
            str(root),
            "preview",
            "exempelmodul",
            f"--port={port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        page = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as resp:
                    page = resp.read().decode("utf-8")
                break
            except OSError:
                time.sleep(0.5)
        assert "Exempelmodul med alla blocktyper" in page
        assert '<span lang="se">Sápmi</span>' in page
        assert "application/vnd.jupyter.widget-view+json" in page
        assert "Traceback" not in page
    finally:
        proc.terminate()  # the command stops its Voilà, and Voilà its kernels
        proc.wait(timeout=30)
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
