"""One heading per section: the compiler's or the author's, never both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omsorgslyft.authoring import load_module
from omsorgslyft.authoring.notebook import build_page_notebook

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.parent for p in (ROOT / "modules").glob("*/module.md"))


def headings(module_dir: Path) -> list[str]:
    nb = build_page_notebook(load_module(module_dir))
    html = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return [
        re.sub(r"<[^>]+>", "", h).strip()
        for h in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", html, flags=re.S)
    ]


@pytest.mark.parametrize("module_dir", [*MODULES, ROOT / "docs" / "exempelmodul"], ids=str)
def test_glossary_and_knowledge_check_have_one_heading(module_dir: Path) -> None:
    found = headings(module_dir)
    assert found.count("Kunskapskontroll") == 1, found
    assert found.count("Ordlista") <= 1, found
