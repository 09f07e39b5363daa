"""The four training modules and the course definitions meet the content requirements."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from omsorgslyft.authoring.courses import load_courses
from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.authoring.readability import module_readability
from omsorgslyft.grading.build import Built, build_modules
from omsorgslyft.grading.course import Course, fill_answers
from omsorgslyft.model import Dialogue, Module, Prose, Reflection

from answers import right_answers, wrong_answers

ROOT = Path(__file__).resolve().parents[1]
MODULE_IDS = ["hbtqi", "kasam", "personcentrering", "samiska"]
LIX_REPORT: dict[str, str] = {}


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    found, problems = load_modules([ROOT / "modules"], ROOT)
    assert [str(p) for p in problems] == []
    return {m.id: m for m in found}


def test_the_four_modules_exist(modules: dict[str, Module]) -> None:
    assert sorted(modules) == MODULE_IDS


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_module_shape(modules: dict[str, Module], module_id: str) -> None:
    m = modules[module_id]
    assert m.language == "sv"
    assert 3 <= len(m.objectives) <= 6
    assert 25 <= m.minutes <= 40
    assert len(m.exercises) >= 3
    dialogues = [b for b in m.blocks if isinstance(b, Dialogue)]
    assert dialogues, "every module has a branching dialogue scenario"
    for d in dialogues:
        branching = [n for n in d.nodes if len(n.choices) >= 2]
        endings = [n for n in d.nodes if n.is_end]
        assert len(branching) >= 2 and len(endings) >= 2, d.id
    assert any(isinstance(b, Reflection) for b in m.blocks)
    # a question pool: 10 asked per attempt from at least 20, every draw group at least twice
    # as large as what it asks, and every question points to a heading to read again
    assert m.check.asked == 10
    assert len(m.graded_questions) >= 20
    assert len(m.graded_questions) >= 2 * m.check.asked
    for group, asked in m.check.groups:
        assert len([q for q in m.graded_questions if q.group == group]) >= 2 * asked, group
    assert all(q.section_id for q in m.graded_questions)
    assert all(q.explanation_html for q in m.graded_questions)
    assert 50 <= m.pass_mark <= 100
    assert len(m.glossary) >= 5
    assert len(m.sources) >= 3


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_readability(modules: dict[str, Module], module_id: str) -> None:
    r = module_readability(modules[module_id])
    words_per_sentence = r.words / r.sentences
    LIX_REPORT[module_id] = (
        f"LIX {r.lix:.1f} ({r.words} ord, {r.sentences} meningar, {words_per_sentence:.1f} ord/mening)"
    )
    assert r.words > 1500, "a 25-40 minute module has substance"
    assert r.lix <= 45
    assert words_per_sentence <= 15


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.paragraphs: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self.inside = True
            self.paragraphs.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.paragraphs[-1] += data


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_paragraphs_are_short(modules: dict[str, Module], module_id: str) -> None:
    parser = _Paragraphs()
    for block in modules[module_id].blocks:
        if isinstance(block, Prose):
            parser.feed(block.html)
    longest = max(len(p.split()) for p in parser.paragraphs)
    assert longest <= 70, f"longest paragraph has {longest} words"


SAMI_WORDS = {"Sápmi": "se", "duodji": "se", "gákti": "se"}


def test_sami_words_carry_their_language(modules: dict[str, Module]) -> None:
    m = modules["samiska"]
    html = "".join(b.html for b in m.blocks if isinstance(b, Prose))
    html += "".join(t.term_html for t in m.glossary)
    used = 0
    for word, lang in SAMI_WORDS.items():
        total = html.count(word)
        tagged = html.count(f'<span lang="{lang}">{word}')
        assert total == tagged, f"{word}: {total - tagged} times without lang={lang}"
        used += total
    assert used > 0
    assert 'lang="se"' in html


def test_no_lapp_outside_the_historical_quote(modules: dict[str, Module]) -> None:
    for m in modules.values():
        for block in m.blocks:
            if isinstance(block, Prose):
                text = block.html.lower().replace("lapp ska vara lapp", "")
                assert " lapp " not in text and " lappar" not in text, m.id


def test_courses(modules: dict[str, Module]) -> None:
    courses, problems = load_courses(ROOT / "courses", ROOT, set(modules))
    assert problems == []
    by_id = {c.id: c for c in courses}
    basic = by_id["grundutbildning"]
    assert sorted(basic.modules) == MODULE_IDS and basic.validity_months == 36
    assert basic.applies_to("Undersköterska", "Hemtjänst Norr")
    assert not basic.applies_to("Enhetschef", "Hemtjänst Norr")
    sami = by_id["samiskt-forvaltningsomrade"]
    assert sami.modules == ("samiska",)
    assert sami.applies_to("vårdbiträde", "Hemtjänst Fjällvägen")
    assert not sami.applies_to("vårdbiträde", "Hemtjänst Norr")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    grading = tmp_path_factory.mktemp("grading")
    return {b.module.id: b for b in build_modules([ROOT / "modules"], ROOT, grading)}


@pytest.mark.slow
@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_module_runs_and_grades(built: dict[str, Built], module_id: str, tmp_path: Path) -> None:
    b = built[module_id]
    nb = nbformat.read(b.page, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert not [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]

    course = Course(b.page.parents[2])
    first, second = list(b.assignments.values())[:2]
    right = {k: v for k, v in right_answers(b.module).items() if k in first.questions}
    course.submit(first.name, "ratt", fill_answers(nbformat.read(first.release, 4), right))
    good = course.autograde(first.name, "ratt")
    asked = [q for q in b.module.graded_questions if q.id in first.questions]
    assert good.score == good.max_score == sum(q.points for q in asked)
    wrong = {k: v for k, v in wrong_answers(b.module).items() if k in second.questions}
    course.submit(second.name, "fel", fill_answers(nbformat.read(second.release, 4), wrong))
    bad = course.autograde(second.name, "fel")
    assert bad.percent() < b.module.pass_mark
