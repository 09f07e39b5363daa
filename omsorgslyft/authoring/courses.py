"""Course definitions (``courses/<id>.toml``): requirements per role and unit."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from omsorgslyft.authoring.diagnostics import Diagnostic
from omsorgslyft.authoring.frontmatter import is_valid_id
from omsorgslyft.model import Course, NewVersionRule

FIELDS = (
    "id",
    "titel",
    "beskrivning",
    "moduler",
    "befattningar",
    "enheter",
    "inom_dagar",
    "giltighet",
    "ny_version",
)


def _line_of(text: str, key: str) -> int:
    """The line where ``key = ...`` is set (1 if it is not set)."""
    for number, line in enumerate(text.splitlines(), start=1):
        name, sep, _ = line.partition("=")
        if sep and name.strip() == key:
            return number
    return 1


def parse_course(
    text: str, path: str, module_ids: set[str]
) -> tuple[Course | None, list[Diagnostic]]:
    problems: list[Diagnostic] = []

    def error(key: str, message: str) -> None:
        problems.append(Diagnostic(path, _line_of(text, key), message))

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 1) or 1
        return None, [Diagnostic(path, line, f"Filen är inte giltig TOML: {exc.args[0]}.")]
    for key in data:
        if key not in FIELDS:
            error(key, f'Okänt fält "{key}". Kända fält: {", ".join(FIELDS)}.')
    for key in ("id", "titel", "moduler", "inom_dagar", "giltighet"):
        if key not in data:
            problems.append(Diagnostic(path, 1, f'Fältet "{key}" saknas.'))
    if problems:
        return None, problems
    if not isinstance(data["id"], str) or not is_valid_id(data["id"]):
        error("id", "id får bara innehålla små bokstäver a–z, siffror och bindestreck.")
    elif Path(path).stem != data["id"]:
        error("id", f'id "{data["id"]}" ska vara samma som filens namn "{Path(path).stem}".')
    lists = {}
    for key in ("moduler", "befattningar", "enheter"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            error(key, f'"{key}" ska vara en lista med texter, till exempel ["a", "b"].')
            value = []
        lists[key] = tuple(value)
    if not lists["moduler"]:
        error("moduler", "Kursen behöver minst en modul.")
    for module_id in lists["moduler"]:
        if module_id not in module_ids:
            error("moduler", f'Modulen "{module_id}" finns inte i modules/.')
    for key, low, high in (("inom_dagar", 1, 3650), ("giltighet", 1, 120)):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            error(key, f'"{key}" ska vara ett heltal mellan {low} och {high}.')
    rule = data.get("ny_version", NewVersionRule.KEEP.value)
    if rule not in {r.value for r in NewVersionRule}:
        error("ny_version", 'ny_version ska vara "behåll" eller "gör om".')
    if problems:
        return None, problems
    return (
        Course(
            id=data["id"],
            title=str(data["titel"]),
            description=str(data.get("beskrivning", "")),
            modules=lists["moduler"],
            roles=lists["befattningar"],
            units=lists["enheter"],
            due_days=data["inom_dagar"],
            validity_months=data["giltighet"],
            new_version=NewVersionRule(rule),
            path=path,
        ),
        [],
    )


def load_courses(
    folder: Path, root: Path, module_ids: set[str]
) -> tuple[list[Course], list[Diagnostic]]:
    courses: list[Course] = []
    problems: list[Diagnostic] = []
    for file in sorted(folder.glob("*.toml")):
        shown = str(file.relative_to(root)) if file.is_relative_to(root) else str(file)
        course, found = parse_course(file.read_text(encoding="utf-8"), shown, module_ids)
        problems.extend(found)
        if course is not None:
            courses.append(course)
    return courses, problems
