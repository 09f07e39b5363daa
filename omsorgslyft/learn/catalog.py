"""What modules exist for learners (from the released notebooks' metadata)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModuleInfo:
    id: str
    title: str
    version: int
    minutes: int
    pass_mark: int
    validity_months: int
    summary: str
    notebook: str  # path relative to the release folder
    blocks: dict[str, dict[str, Any]]
    #: variant letter -> the questions it asks (ids only: the key is with grading)
    variants: dict[str, list[str]] = field(default_factory=dict)
    attempts_per_day: int = 3


class Catalog:
    """Released modules, read once at start-up (the learn service never sees the key)."""

    def __init__(self, release_dir: Path, courses_dir: Path | None = None) -> None:
        self.modules: dict[str, ModuleInfo] = {}
        for path in sorted(release_dir.glob("*/*.ipynb")):
            meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("omsorgslyft")
            if not meta or "variant" in meta:  # a variant's assignment is grading's
                continue
            self.modules[meta["module"]] = ModuleInfo(
                id=meta["module"],
                title=meta["title"],
                version=int(meta["version"]),
                minutes=int(meta["minutes"]),
                pass_mark=int(meta["pass_mark"]),
                validity_months=int(meta.get("validity_months", 36)),
                summary=meta.get("summary", ""),
                notebook=str(path.relative_to(release_dir)),
                blocks=meta["blocks"],
                variants=meta.get("variants")
                or {"a": [k for k, b in meta["blocks"].items() if b["kind"] == "svar"]},
                attempts_per_day=int(meta.get("attempts_per_day", 3)),
            )
        self.required_order = list(self.modules)
        if courses_dir is not None and courses_dir.is_dir():
            from omsorgslyft.authoring.courses import load_courses

            courses, _ = load_courses(courses_dir, courses_dir.parent, set(self.modules))
            order: list[str] = []
            for course in courses:
                order.extend(m for m in course.modules if m not in order)
            self.required_order = order + [m for m in self.modules if m not in order]

    def get(self, module_id: str) -> ModuleInfo | None:
        return self.modules.get(module_id)

    def for_learner(self, learner: str) -> list[ModuleInfo]:
        """The modules a learner needs. Until the roster exists: every module."""
        return [self.modules[m] for m in self.required_order if m in self.modules]
