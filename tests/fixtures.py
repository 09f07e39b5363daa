"""Read fixture files in the style of markdown-it-py's: title, input and expected output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Case:
    title: str
    line: int
    input: str
    expected: str


def read_cases(name: str) -> list[Case]:
    """Cases are ``title / . / input / . / expected / .``; leading ``#`` lines are comments."""
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    cases: list[Case] = []
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        title, start = lines[i], i + 1
        assert lines[i + 1] == ".", f"{name}:{i + 2}: expected '.' after the title"
        j = i + 2
        parts: list[list[str]] = [[], []]
        for part in parts:
            while lines[j] != ".":
                part.append(lines[j])
                j += 1
            j += 1
        cases.append(Case(title, start, "\n".join(parts[0]) + "\n", "\n".join(parts[1])))
        i = j
    return cases
