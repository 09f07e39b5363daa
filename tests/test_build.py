"""The compiler end to end with real nbgrader and real kernels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from omsorgslyft.authoring import load_module
from omsorgslyft.grading.build import Built, build_modules, validate_nbgrader
from omsorgslyft.grading.course import Course, fill_answers

from answers import right_answers, wrong_answers

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "exempelmodul"

pytestmark = pytest.mark.slow

SENTINEL_MODULE = """---
id: sentinel
titel: Sentinel
version: 3
språk: sv
minuter: 5
godkänd: 50
giltighet: 12
kompetenser: [test]
lärandemål: [testa]
källor: [{id: S1, titel: Test}]
---
Inledning.

::: enkelval {#ov}
Övning.

- [x] Övningssvar
  > SYNLIG-OVNING
- [ ] Fel
:::

:::: kunskapskontroll
::: enkelval {#k1}
Fråga ett.

- [ ] Fel ett
  > HEMLIG-ATERKOPPLING-1
- [x] Rätt ett
  > HEMLIG-ATERKOPPLING-2

> HEMLIG-FORKLARING-1
:::

::: flerval {#k2}
Fråga två.

- [x] Rätt A
- [ ] Fel B
- [x] Rätt C

> HEMLIG-FORKLARING-2
:::

::: sant-falskt {#k3 svar=falskt}
Fråga tre.

> HEMLIG-FORKLARING-3
:::

::: ordning {#k4 vikt=2}
Fråga fyra.

1. Steg ett
2. Steg två
3. Steg tre
4. Steg fyra

> HEMLIG-FORKLARING-4
:::

::: para {#k5 vikt=2}
Fråga fem.

Vänster ett
: Höger ett

Vänster två
: Höger två

Vänster tre
: Höger tre

> HEMLIG-FORKLARING-5
:::
::::
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("project")
    (root / "modules" / "sentinel").mkdir(parents=True)
    (root / "modules" / "sentinel" / "module.md").write_text(SENTINEL_MODULE, encoding="utf-8")
    shutil.copytree(EXAMPLE, root / "modules" / "exempelmodul")
    result = build_modules([root / "modules"], root, root / "grading")
    return {b.module.id: b for b in result}


def test_metadata_is_valid_for_nbgrader(built: dict[str, Built]) -> None:
    for b in built.values():
        for path in (b.source, b.release):
            validate_nbgrader(nbformat.read(path, as_version=4))


def test_release_holds_no_answer_key(built: dict[str, Built]) -> None:
    b = built["sentinel"]
    source = b.source.read_text(encoding="utf-8")
    release = b.release.read_text(encoding="utf-8")
    # the sentinels are in the module and the key in the source (so the checks can fail) ...
    assert "HEMLIG-FORKLARING-1" in b.module.graded_questions[0].explanation_html
    assert "HEMLIG-ATERKOPPLING-2" in b.module.graded_questions[0].options[1].feedback_html
    assert "### BEGIN HIDDEN TESTS" in source and "BEGIN SOLUTION" in source
    # ... and none of them reach the released notebook
    assert "HEMLIG" not in release
    assert "BEGIN SOLUTION" not in release and "HIDDEN TESTS" not in release
    assert "assert" not in release
    nb = nbformat.read(b.release, as_version=4)
    graded_cells = [
        c.source for c in nb.cells if c.metadata["nbgrader"]["grade_id"].startswith("fraga-")
    ]
    assert len(graded_cells) == len(b.module.graded_questions)
    for cell in graded_cells:
        for key in ("'correct'", "'answer'", "'explanation'", "'feedback'"):
            assert key not in cell
    # exercises keep their feedback: it is shown at once
    assert "SYNLIG-OVNING" in release
    for question in b.module.graded_questions:
        answer = question.correct_answer()
        if isinstance(answer, str):
            # the right option's id is there exactly as often as every wrong one
            counts = {release.count(o.id) for o in question.options}
            assert counts == {release.count(answer)} and release.count(answer) >= 1, question.id
        else:
            assert repr(answer) not in release and json.dumps(answer) not in release, question.id


def test_release_shuffles_ordering_and_matching(built: dict[str, Built]) -> None:
    module = built["sentinel"].module
    k4 = next(q for q in module.graded_questions if q.id == "k4")
    release = built["sentinel"].release.read_text(encoding="utf-8")
    ids = [item.id for item in k4.items]
    positions = [release.index(i) for i in ids]
    assert positions != sorted(positions)


def _execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


@pytest.mark.parametrize("module_id", ["exempelmodul", "sentinel"])
def test_release_runs_top_to_bottom(
    built: dict[str, Built], module_id: str, tmp_path: Path
) -> None:
    nb = nbformat.read(built[module_id].release, as_version=4)
    _execute(nb, tmp_path)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    widgets = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == len(built[module_id].module.exercises) + len(
        built[module_id].module.graded_questions
    ) + 1 + sum(1 for b in built[module_id].module.blocks if type(b).__name__ == "Reflection")


@pytest.mark.parametrize("module_id", ["exempelmodul", "sentinel"])
def test_autograde_right_and_wrong(built: dict[str, Built], module_id: str) -> None:
    b = built[module_id]
    course = Course(b.source.parents[2])
    released = nbformat.read(b.release, as_version=4)

    course.submit(module_id, "ratt", fill_answers(released, right_answers(b.module)))
    good = course.autograde(module_id, "ratt")
    assert good.max_score == b.module.max_points
    assert good.score == b.module.max_points

    course.submit(module_id, "fel", fill_answers(released, wrong_answers(b.module)))
    bad = course.autograde(module_id, "fel")
    assert bad.score == 0
    assert {q.question_id for q in bad.questions} == {q.id for q in b.module.graded_questions}

    course.submit(module_id, "tom", released)
    assert course.autograde(module_id, "tom").score == 0


def test_source_notebook_autogrades_to_full_marks(built: dict[str, Built]) -> None:
    b = built["exempelmodul"]
    course = Course(b.source.parents[2])
    course.submit("exempelmodul", "kalla", nbformat.read(b.source, as_version=4))
    assert course.autograde("exempelmodul", "kalla").score == b.module.max_points


def test_example_module_has_every_block_kind() -> None:
    module = load_module(EXAMPLE)
    kinds = {type(b).__name__ for b in module.blocks}
    assert {"Prose", "Question", "Dialogue", "Reflection", "Glossary"} <= kinds
    assert {q.kind.value for q in module.questions if not q.graded} == {
        "enkelval",
        "flerval",
        "sant-falskt",
        "ordning",
        "para",
    }
    assert {q.kind.value for q in module.graded_questions} == {
        "enkelval",
        "flerval",
        "sant-falskt",
        "ordning",
        "para",
    }
