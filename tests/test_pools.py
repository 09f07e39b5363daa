"""Question pools: the front matter, the draw of each variant, and the four modules' pools."""

from __future__ import annotations

from pathlib import Path

import pytest

from omsorgslyft.authoring import parse_module
from omsorgslyft.authoring.discover import load_modules
from omsorgslyft.authoring.draws import draw_variants, parse_variant_name, variant_name
from omsorgslyft.model import FailReview, Module, PassReview

ROOT = Path(__file__).resolve().parents[1]


def _module(tmp_path: Path, rules: str, questions: list[tuple[str, str]]) -> Module:
    body = "".join(
        f"::: sant-falskt {{#{qid} svar=sant avsnitt=lagen{attrs}}}\nPåstående {qid}.\n\n> Ja.\n:::\n"
        for qid, attrs in questions
    )
    text = (
        "---\nid: t\ntitel: T\nversion: 3\nspråk: sv\nminuter: 5\ngodkänd: 80\ngiltighet: 12\n"
        f"kompetenser: [x]\nlärandemål: [y]\nkällor: [{{id: S1, titel: K}}]\nkunskapskontroll: {rules}\n"
        "---\n\n## Lagen\n\nText.\n\n:::: kunskapskontroll\n" + body + "::::\n"
    )
    folder = tmp_path / "modules" / "t"
    folder.mkdir(parents=True, exist_ok=True)
    return parse_module(text, "modules/t/module.md", folder)


def test_front_matter_rules_and_sections(tmp_path: Path) -> None:
    m = _module(
        tmp_path,
        "{frågor: 2, varianter: 3, försök-per-dag: 2, efter-underkänt: poäng, "
        "efter-godkänt: poäng, urval: {lag: 1}}",
        [("a", " grupp=lag"), ("b", " grupp=lag"), ("c", ""), ("d", "")],
    )
    assert (m.check.asked, m.check.variants, m.check.attempts_per_day) == (2, 3, 2)
    assert m.check.after_fail is FailReview.SCORE
    assert m.check.after_pass is PassReview.SCORE
    assert m.check.groups == (("lag", 1),)
    assert {q.section for q in m.graded_questions} == {"Lagen"}
    assert {q.section_id for q in m.graded_questions} == {"lagen"}


def test_defaults_are_strict(tmp_path: Path) -> None:
    m = _module(tmp_path, "{frågor: 1}", [("a", ""), ("b", "")])
    assert m.check.after_fail is FailReview.SECTIONS  # never the right option
    assert m.check.after_pass is PassReview.EXPLANATIONS
    assert m.check.attempts_per_day == 3


def test_each_variant_draws_exactly_from_each_group(tmp_path: Path) -> None:
    qs = [(f"g{i}", " grupp=lag") for i in range(4)] + [(f"r{i}", "") for i in range(8)]
    m = _module(tmp_path, "{frågor: 5, varianter: 4, urval: {lag: 2}}", qs)
    variants = draw_variants(m)
    assert list(variants) == ["a", "b", "c", "d"]
    for ids in variants.values():
        assert len(ids) == len(set(ids)) == 5
        assert sum(1 for q in ids if q.startswith("g")) == 2
    # the pool is twice what is asked: the first two variants share no question
    assert not set(variants["a"]) & set(variants["b"])
    # every pool question is asked by some variant
    assert set().union(*variants.values()) == {q for q, _ in qs}
    assert draw_variants(m) == variants  # the same build draws the same


def test_a_module_that_asks_everything_has_one_variant(tmp_path: Path) -> None:
    m = _module(tmp_path, "{frågor: 2}", [("a", ""), ("b", "")])
    assert draw_variants(m) == {"a": ("a", "b")}


def test_variant_names() -> None:
    assert variant_name("samiska", 2, "c") == "samiska-v2-c"
    assert parse_variant_name("samiska-v2-c") == ("samiska", 2, "c")
    assert parse_variant_name("lss-vardag-v10-a") == ("lss-vardag", 10, "a")
    assert parse_variant_name("kasam") is None


@pytest.fixture(scope="module")
def modules() -> list[Module]:
    found, problems = load_modules([ROOT / "modules"], ROOT)
    assert not problems
    return found


def test_the_four_modules_have_pools_twice_what_is_asked(modules: list[Module]) -> None:
    assert {m.id for m in modules} == {"kasam", "hbtqi", "samiska", "personcentrering"}
    for m in modules:
        assert m.check.asked >= 10, m.id
        assert len(m.graded_questions) >= 2 * m.check.asked, m.id
        assert all(q.section for q in m.graded_questions), m.id
        # every question is named by its prompt (a screen reader's group name): no two alike
        prompts = [" ".join(q.prompt_html.split()) for q in m.questions]
        assert len(prompts) == len(set(prompts)), m.id
        variants = draw_variants(m)
        assert len(variants) >= 2, m.id
        assert len({frozenset(v) for v in variants.values()}) == len(variants), m.id


def test_headings_get_unique_ids_even_with_the_same_text(tmp_path: Path) -> None:
    m = _module(tmp_path, "{frågor: 1}", [("a", ""), ("b", "")])
    from omsorgslyft.authoring.markdown import Renderer, make_parser

    renderer = Renderer(make_parser(), None)
    html = renderer.render(make_parser().parse("## Lagen\n\nText.\n\n## Lagen\n"))
    assert 'id="lagen"' in html and 'id="lagen-2"' in html
    assert m.graded_questions[0].section_id == "lagen"
