"""Links and images in modules keep only the attributes the compiler knows.

Data-driven: ``fixtures/safe_attrs.md`` has modules whose ``{...}`` the checks refuse (with
the exact Swedish diagnostics), ``fixtures/safe_html.md`` the HTML the renderer writes for
such text when nothing is checked first. Every rendered link, image, span and code element
is also read back as the learner's page gets it (through Voilà's Markdown renderer) and
checked against the allow-list.
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from voila.exporter import VoilaMarkdownRenderer

from omsorgslyft.authoring import ModuleError, load_module, parse_module
from omsorgslyft.authoring.markdown import Renderer, make_parser
from omsorgslyft.authoring.notebook import build_page_notebook, learner_spec
from omsorgslyft.cli import main
from omsorgslyft.model import Dialogue, Question, Reflection

from fixtures import Case, read_cases

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
:::: kunskapskontroll
::: sant-falskt {#standard svar=sant}
Standardfråga.

> Ja.
:::
::::
"""
REFUSED = read_cases("safe_attrs.md")
RENDERED = read_cases("safe_html.md")
#: every attribute an element in module text may carry on the learner's page
ALLOWED = {
    "a": {"href", "title", "rel", "target"},
    "img": {"src", "alt", "title", "loading"},
    "span": {"lang", "class"},
    "code": set(),
}
HREF_SCHEMES = ("https://", "http://", "mailto:", "#")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_only_known_attributes(html: str) -> None:
    for tag, attrs in elements(html):
        if tag not in ALLOWED:
            continue
        assert set(attrs) <= ALLOWED[tag], (tag, attrs)
        if tag == "a" and "href" in attrs:
            assert str(attrs["href"]).lower().startswith(HREF_SCHEMES), attrs
        if tag == "a" and attrs.get("target"):
            assert attrs.get("rel") == "noopener noreferrer", attrs
        if tag == "img" and "src" in attrs:
            src = str(attrs["src"])
            assert src.startswith("data:image/") or ":" not in src.split("/")[0], attrs
            assert not src.startswith("//"), attrs


def on_page(html: str) -> str:
    """The HTML as Voilà puts a notebook's Markdown cell on the learner's page."""
    renderer = VoilaMarkdownRenderer(
        escape=False, attachments={}, contents_manager=None, anchor_link_text="¶"
    )
    return str(MarkdownWithMath(renderer=renderer).render(html))


def _parse(text: str, tmp_path: Path) -> None:
    folder = tmp_path / "modules" / "t"
    folder.mkdir(parents=True)
    parse_module(
        text if "kunskapskontroll" in text else text + CHECK, "modules/t/module.md", folder
    )


def test_fixture_files_have_cases() -> None:
    assert len(REFUSED) >= 10 and len(RENDERED) >= 10
    assert len({c.title for c in REFUSED}) == len(REFUSED)
    assert len({c.title for c in RENDERED}) == len(RENDERED)


@pytest.mark.parametrize("case", REFUSED, ids=[c.title for c in REFUSED])
def test_refused_attributes_are_reported(case: Case, tmp_path: Path) -> None:
    with pytest.raises(ModuleError) as info:
        _parse(case.input, tmp_path)
    got = [str(d) for d in info.value.diagnostics]
    assert sorted(got) == sorted(case.expected.splitlines())


@pytest.mark.parametrize("case", RENDERED, ids=[c.title for c in RENDERED])
def test_renderer_keeps_only_known_attributes(case: Case) -> None:
    md = make_parser()
    html = Renderer(md, None).render(md.parse(case.input))
    assert html == case.expected
    for shown in (html, on_page(html)):
        assert_only_known_attributes(shown)
        for word in ("style=", "ping=", "onclick", "onerror", "onmouseover", "srcset"):
            assert word not in shown
        assert 'href="javascript' not in shown.lower() and 'href="data:' not in shown


def test_images_come_only_from_the_module_folder(tmp_path: Path) -> None:
    folder = tmp_path / "modul"
    folder.mkdir()
    (folder / "kok.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "hemlig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    md = make_parser()
    text = (
        '![Ett kök](kok.png){style="position:fixed"} ![Utanför](../hemlig.png) '
        "![Webben](https://evil.example/spår.png)"
    )
    html = Renderer(md, folder).render(md.parse(text))
    assert html == (
        '<p><img src="data:image/png;base64,iVBORw0KGgo=" alt="Ett kök" loading="lazy" /> '
        '<img alt="Utanför" /> <img alt="Webben" /></p>'
    )


def test_check_prints_the_line_and_build_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a trainer sees for the overlay-and-ping link, and that it never reaches a page."""
    example = ROOT / "docs" / "exempelmodul"
    folder = tmp_path / "modules" / "exempelmodul"
    shutil.copytree(example, folder)
    lines = (folder / "module.md").read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Det här är vanlig text"))
    lines.insert(
        at + 1,
        'Läs [riktlinjen](https://example.org){style="position:fixed;inset:0" '
        'ping="https://evil.example/"}.',
    )
    lines.insert(at + 1, "")
    (folder / "module.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["--root", str(tmp_path), "check"]) == 1
    out = capsys.readouterr().out
    assert (
        f"modules/exempelmodul/module.md:{at + 3}: Inställningarna ping, style är inte tillåtna "
        "på länken https://example.org. En länk får bara ha en adress och en titel: "
        '[text](https://adress "titel").'
    ) in out
    assert main(["--root", str(tmp_path), "build"]) == 1
    assert not (tmp_path / "grading").exists()


@pytest.mark.parametrize(
    "folder",
    [ROOT / "docs" / "exempelmodul", *sorted((ROOT / "modules").iterdir())],
    ids=lambda p: p.name,
)
def test_compiled_modules_carry_only_known_attributes(folder: Path) -> None:
    """Every Markdown cell and widget text of the real modules, as the page gets them."""
    module = load_module(folder, ROOT)
    notebook = build_page_notebook(module)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            assert_only_known_attributes(on_page(cell.source))
    for block in module.blocks:
        if isinstance(block, (Question, Dialogue, Reflection)):
            for text in _strings(learner_spec(module, block)):
                assert_only_known_attributes(text)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []
