"""Find and load every module of a project, collecting all problems at once."""

from __future__ import annotations

from pathlib import Path

from omsorgslyft.authoring.diagnostics import Diagnostic, ModuleError
from omsorgslyft.authoring.parser import load_module
from omsorgslyft.model import Module


def module_dirs(paths: list[Path]) -> list[Path]:
    """Module folders named by ``paths``: a module folder, its module.md, or a folder of modules."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path.parent)
        elif (path / "module.md").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob("*/module.md")))
        else:
            found.append(path)  # reported as missing by load_module
    return found


def load_modules(paths: list[Path], root: Path) -> tuple[list[Module], list[Diagnostic]]:
    """Load every module; returns the good ones and every diagnostic of the bad ones."""
    modules: list[Module] = []
    diagnostics: list[Diagnostic] = []
    ids: dict[str, str] = {}
    for folder in module_dirs(paths):
        try:
            module = load_module(folder.resolve(), root.resolve())
        except ModuleError as exc:
            diagnostics.extend(exc.diagnostics)
            continue
        if module.id in ids:
            diagnostics.append(
                Diagnostic(
                    module.path, 2, f'Modul-id:t "{module.id}" används redan av {ids[module.id]}.'
                )
            )
            continue
        ids[module.id] = module.path
        modules.append(module)
    return modules, sorted(diagnostics)
