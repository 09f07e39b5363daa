"""Data-driven parser tests: every malformed case names its exact file:line and message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omsorgslyft.authoring import ModuleError, parse_module
from omsorgslyft.authoring.notebook import learner_spec
from omsorgslyft.model import Dialogue, Glossary, Module, Prose, Question, Reflection

from fixtures import Case, read_cases

CHECK = """
:::: kunskapskontroll
::: sant-falskt {#standard svar=sant}
Standardfråga.

> Ja.
:::
::::
"""
MALFORMED = read_cases("malformed.md")
VALID = read_cases("valid.md")


def _with_check(text: str) -> str:
    return text if "kunskapskontroll" in text else text + CHECK


def _parse(text: str, tmp_path: Path) -> Module:
    folder = tmp_path / "modules" / "t"
    folder.mkdir(parents=True)
    return parse_module(text, "modules/t/module.md", folder)


def test_fixture_file_has_enough_cases() -> None:
    assert len(MALFORMED) >= 30
    assert len({c.title for c in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("case", MALFORMED, ids=[c.title for c in MALFORMED])
def test_malformed(case: Case, tmp_path: Path) -> None:
    with pytest.raises(ModuleError) as info:
        _parse(_with_check(case.input), tmp_path)
    got = [str(d) for d in info.value.diagnostics]
    assert sorted(got) == sorted(case.expected.splitlines())


def summarize(module: Module) -> str:
    """A stable, readable snapshot of what was parsed."""
    rows: list[object] = []
    for block in module.blocks:
        if isinstance(block, Prose):
            rows.append({"prosa": block.line, "html": block.html})
        elif isinstance(block, Glossary):
            rows.append(
                {
                    "ordlista": block.line,
                    "termer": [[t.term_html, t.definition_html] for t in block.terms],
                }
            )
        elif isinstance(block, (Question, Dialogue, Reflection)):
            spec = learner_spec(module, block)
            rows.append({"rad": block.line} | spec)
        else:  # pragma: no cover - the model has no other block kinds
            raise AssertionError(block)
    return "\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)


@pytest.mark.parametrize("case", VALID, ids=[c.title for c in VALID])
def test_valid(case: Case, tmp_path: Path) -> None:
    module = _parse(_with_check(case.input), tmp_path)
    assert summarize(module) == case.expected
