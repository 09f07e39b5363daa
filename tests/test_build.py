"""The compiler end to end with real nbgrader and real kernels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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
kunskapskontroll: {frågor: 3, varianter: 2}
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


def _everything(b: Built) -> list[Path]:
    return [p for a in b.assignments.values() for p in (a.source, a.release)]


def test_metadata_is_valid_for_nbgrader(built: dict[str, Built]) -> None:
    for b in built.values():
        for path in _everything(b):
            validate_nbgrader(nbformat.read(path, as_version=4))


def test_each_variant_is_an_assignment_of_its_own(built: dict[str, Built]) -> None:
    b = built["sentinel"]
    assert sorted(a.name for a in b.assignments.values()) == ["sentinel-v3-a", "sentinel-v3-b"]
    for a in b.assignments.values():
        assert len(a.questions) == 3
        nb = nbformat.read(a.release, as_version=4)
        answer_cells = [
            c.metadata["nbgrader"]["grade_id"]
            for c in nb.cells
            if c.metadata["nbgrader"].get("solution")
        ]
        assert answer_cells == ["svar"]  # one answer cell, then a test per question
        tests = [
            c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata["nbgrader"]["grade"]
        ]
        assert tests == [f"test-{q}" for q in a.questions]
    assert set(b.assignments["a"].questions) != set(b.assignments["b"].questions)
    # the exempelmodul asks every question: one variant
    assert list(built["exempelmodul"].assignments) == ["a"]


def test_page_and_releases_hold_no_answer_key(built: dict[str, Built]) -> None:
    b = built["sentinel"]
    page = b.page.read_text(encoding="utf-8")
    sources = [a.source.read_text(encoding="utf-8") for a in b.assignments.values()]
    releases = [a.release.read_text(encoding="utf-8") for a in b.assignments.values()]
    # the sentinels are in the module and the key in the sources (so the checks can fail) ...
    assert "HEMLIG-FORKLARING-1" in b.module.graded_questions[0].explanation_html
    assert "HEMLIG-ATERKOPPLING-2" in b.module.graded_questions[0].options[1].feedback_html
    assert all("### BEGIN HIDDEN TESTS" in s and "BEGIN SOLUTION" in s for s in sources)
    # ... and none of them reach the page or a released notebook
    for text in (page, *releases):
        assert "HEMLIG" not in text
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert "assert" not in text
    nb = nbformat.read(b.page, as_version=4)
    (check,) = [c.source for c in nb.cells if c.source.startswith("ol.check(")]
    for key in ("'correct'", "'answer'", "'explanation'", "'feedback'"):
        assert key not in check
    # every pool question is on the page (the draw is the learn service's), without a key
    for q in b.module.graded_questions:
        assert f"'{q.id}': {{'type'" in check
    # exercises keep their feedback: it is shown at once
    assert "SYNLIG-OVNING" in page
    for question in b.module.graded_questions:
        answer = question.correct_answer()
        if isinstance(answer, str):
            # the right option's id is there exactly as often as every wrong one
            counts = {page.count(o.id) for o in question.options}
            assert counts == {page.count(answer)} and page.count(answer) >= 1, question.id
        else:
            assert repr(answer) not in page and json.dumps(answer) not in page, question.id


def test_page_shuffles_ordering_and_matching(built: dict[str, Built]) -> None:
    module = built["sentinel"].module
    k4 = next(q for q in module.graded_questions if q.id == "k4")
    page = built["sentinel"].page.read_text(encoding="utf-8")
    ids = [item.id for item in k4.items]
    positions = [page.index(i) for i in ids]
    assert positions != sorted(positions)


def _execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


@pytest.mark.parametrize("module_id", ["exempelmodul", "sentinel"])
def test_page_runs_top_to_bottom(built: dict[str, Built], module_id: str, tmp_path: Path) -> None:
    nb = nbformat.read(built[module_id].page, as_version=4)
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
    module = built[module_id].module
    reflections = sum(1 for b in module.blocks if type(b).__name__ == "Reflection")
    # one widget per exercise and reflection, and one for the whole knowledge check
    assert len(widgets) == len(module.exercises) + reflections + 1


@pytest.mark.parametrize("module_id", ["exempelmodul", "sentinel"])
def test_autograde_right_and_wrong(built: dict[str, Built], module_id: str) -> None:
    b = built[module_id]
    course = Course(b.page.parents[2])
    for a in b.assignments.values():
        released = nbformat.read(a.release, as_version=4)
        asked = [q for q in b.module.graded_questions if q.id in a.questions]
        right = {k: v for k, v in right_answers(b.module).items() if k in a.questions}
        wrong = {k: v for k, v in wrong_answers(b.module).items() if k in a.questions}

        course.submit(a.name, "ratt", fill_answers(released, right))
        good = course.autograde(a.name, "ratt")
        assert good.max_score == good.score == sum(q.points for q in asked)

        course.submit(a.name, "fel", fill_answers(released, wrong))
        bad = course.autograde(a.name, "fel")
        assert bad.score == 0
        assert {q.question_id for q in bad.questions} == set(a.questions)

        course.submit(a.name, "tom", released)
        assert course.autograde(a.name, "tom").score == 0


def test_source_notebook_autogrades_to_full_marks(built: dict[str, Built]) -> None:
    b = built["exempelmodul"]
    course = Course(b.page.parents[2])
    a = b.assignments["a"]
    course.submit(a.name, "kalla", nbformat.read(a.source, as_version=4))
    assert course.autograde(a.name, "kalla").score == b.module.max_points
