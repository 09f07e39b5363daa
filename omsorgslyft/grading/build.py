"""``omsorgslyft build``: modules -> module pages and nbgrader assignments, one per variant.

For each module the build writes

* the page learners open, ``release/<module>/<module>.ipynb`` (no answer key; not an
  nbgrader assignment: nothing in it is graded), and
* for each variant of its knowledge check an nbgrader assignment
  ``<module>-v<version>-<letter>``: ``source/`` (with the key, for grading only), then
  ``nbgrader generate_assignment`` -> ``release/`` (the key removed).

Assignments of earlier versions stay, so formgrader can still show and regrade them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from omsorgslyft.authoring.assignment import build_assignment_notebook
from omsorgslyft.authoring.diagnostics import ModuleError
from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.authoring.draws import draw_variants, variant_name
from omsorgslyft.authoring.notebook import build_page_notebook
from omsorgslyft.grading.course import Course
from omsorgslyft.model import Module


@dataclass(frozen=True)
class Assignment:
    name: str  # kasam-v1-b
    letter: str
    questions: tuple[str, ...]
    source: Path
    release: Path


@dataclass(frozen=True)
class Built:
    module: Module
    page: Path
    assignments: dict[str, Assignment] = field(default_factory=dict)  # by letter


def page_path(grading_dir: Path, module_id: str) -> Path:
    return grading_dir / "release" / module_id / f"{module_id}.ipynb"


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
    gradebook_url: str = "",
) -> list[Built]:
    """Build every module under ``paths``. Writes nothing if any module has an error.

    nbgrader records each assignment in the gradebook at ``gradebook_url`` (default: the
    SQLite ``gradebook.db`` in ``grading_dir``), where autograding looks it up.
    """
    modules, diagnostics = load_modules(paths, project_root)
    if diagnostics:
        raise ModuleError(diagnostics)
    planned = []
    for module in modules:
        variants = draw_variants(module)
        notebooks = {letter: build_assignment_notebook(module, letter) for letter in variants}
        for nb in notebooks.values():
            validate_nbgrader(nb)
        planned.append((module, build_page_notebook(module), variants, notebooks))
    course = Course(grading_dir, gradebook_url or None)
    built: list[Built] = []
    for module, page, variants, notebooks in planned:
        progress(
            f"Bygger {module.id} (version {module.version}, "
            f"{len(variants)} {'variant' if len(variants) == 1 else 'varianter'}) …"
        )
        target = page_path(grading_dir, module.id)
        shutil.rmtree(grading_dir / "source" / module.id, ignore_errors=True)  # before pools
        write_notebook(page, target)
        assignments: dict[str, Assignment] = {}
        for letter, nb in notebooks.items():
            name = variant_name(module.id, module.version, letter)
            source = course.source_path(name)
            shutil.rmtree(source.parent, ignore_errors=True)
            write_notebook(nb, source)
            course.generate(name)
            release = course.release_path(name)
            validate_nbgrader(nbformat.read(release, as_version=4))
            assignments[letter] = Assignment(name, letter, variants[letter], source, release)
        built.append(Built(module, target, assignments))
    return built
