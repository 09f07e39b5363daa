"""Where the records layer finds its databases, modules and courses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from omsorgslyft.model import Course
from omsorgslyft.paths import Layout
from omsorgslyft.records.store import RecordsStore, Sources


@dataclass(frozen=True)
class ModuleFacts:
    id: str
    title: str
    version: int
    pass_mark: int


@dataclass(frozen=True)
class RecordsConfig:
    modules_dir: Path
    courses_dir: Path
    records_url: str
    submissions_url: str
    gradebook_url: str = ""
    answers_url: str = ""
    course_dir: Path | None = None  # nbgrader's course directory (files per learner)
    retention_months: int = 24  # after employment ends; 0 = keep until erased by hand
    modules: dict[str, ModuleFacts] = field(default_factory=dict)
    courses: tuple[Course, ...] = ()

    @classmethod
    def for_project(cls, root: Path, **overrides: str | int) -> RecordsConfig:
        """The embedded default layout of a project checkout (SQLite files)."""
        where = Layout(root / "var", root)
        values: dict[str, str | int] = {
            "records_url": f"sqlite:///{where.records_db}",
            "submissions_url": f"sqlite:///{where.grading_dir / 'submissions.db'}",
            "gradebook_url": f"sqlite:///{where.grading_dir / 'gradebook.db'}",
            "answers_url": f"sqlite:///{where.learn_db}",
        }
        values.update({k: v for k, v in overrides.items() if v not in ("", None)})
        if not overrides.get("records_url"):
            where.records_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            modules_dir=root / "modules",
            courses_dir=root / "courses",
            course_dir=root / "grading",
            **values,  # type: ignore[arg-type]
        )

    def load(self) -> RecordsConfig:
        """A copy with the modules and courses read from disk (errors raise)."""
        from dataclasses import replace

        from omsorgslyft.authoring.courses import load_courses
        from omsorgslyft.authoring.discover import load_modules

        modules, problems = load_modules([self.modules_dir], self.modules_dir.parent)
        courses, course_problems = load_courses(
            self.courses_dir, self.courses_dir.parent, {m.id for m in modules}
        )
        if problems or course_problems:
            raise ValueError("\n".join(str(p) for p in [*problems, *course_problems]))
        facts = {m.id: ModuleFacts(m.id, m.title, m.version, m.pass_mark) for m in modules}
        return replace(self, modules=facts, courses=tuple(courses))

    def retention_limit(self, today: date) -> date | None:
        """Employment that ended before this day is past the retention period."""
        from omsorgslyft.dates import add_months

        return add_months(today, -self.retention_months) if self.retention_months > 0 else None

    @property
    def pass_marks(self) -> dict[str, int]:
        return {m.id: m.pass_mark for m in self.modules.values()}

    def store(self, today: date | None = None) -> RecordsStore:
        store = RecordsStore(
            self.records_url,
            Sources(self.submissions_url, self.gradebook_url, self.answers_url),
        )
        store.note_versions(
            ((m.id, m.title, m.version) for m in self.modules.values()),
            today or date.today(),
        )
        return store
