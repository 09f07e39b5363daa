"""``omsorgslyft build``: modules -> nbgrader source notebooks -> released notebooks."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from omsorgslyft.authoring.diagnostics import ModuleError
from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.authoring.notebook import build_source_notebook
from omsorgslyft.grading.course import Course
from omsorgslyft.model import Module


@dataclass(frozen=True)
class Built:
    module: Module
    source: Path
    release: Path


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        nbformat.write(nb, fh)
    tmp.replace(path)


def validate_nbgrader(nb: nbformat.NotebookNode) -> None:
    """Check the generated metadata with nbgrader's own validator."""
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nb)


def build_modules(
    paths: list[Path],
    project_root: Path,
    grading_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Built]:
    """Build every module under ``paths``. Writes nothing if any module has an error."""
    modules, diagnostics = load_modules(paths, project_root)
    if diagnostics:
        raise ModuleError(diagnostics)
    notebooks = []
    for module in modules:
        nb = build_source_notebook(module)
        validate_nbgrader(nb)
        notebooks.append((module, nb))
    course = Course(grading_dir)
    built: list[Built] = []
    for module, nb in notebooks:
        progress(f"Bygger {module.id} (version {module.version}) …")
        source = course.source_path(module.id)
        shutil.rmtree(source.parent, ignore_errors=True)
        write_notebook(nb, source)
        course.generate(module.id)
        release = course.release_path(module.id)
        validate_nbgrader(nbformat.read(release, as_version=4))
        built.append(Built(module, source, release))
    return built
