"""The markdown-it-py parser and the safe HTML renderer used for module text.

Syntax comes from markdown-it-py plugins only (front matter, containers, attribute spans,
definition lists). Raw HTML is parsed (so it can be reported) but never rendered: the
parser refuses any module that contains it.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Sequence
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

#: language tags a trainer may put on a span: the Sámi languages, the other national
#: minority languages, and a few common ones.
LANGUAGES = {
    "se": "nordsamiska",
    "smj": "lulesamiska",
    "sma": "sydsamiska",
    "sju": "umesamiska",
    "sje": "pitesamiska",
    "smn": "enaresamiska",
    "sms": "skoltsamiska",
    "fi": "finska",
    "fit": "meänkieli",
    "yi": "jiddisch",
    "rom": "romani chib",
    "rmu": "romani (resande)",
    "sv": "svenska",
    "en": "engelska",
    "la": "latin",
    "el": "grekiska",
}
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}
MAX_IMAGE_BYTES = 2_000_000


def make_parser() -> MarkdownIt:
    """A CommonMark parser with the plugins the module format uses."""
    return (
        MarkdownIt("commonmark", {"html": True, "typographer": False})
        .use(front_matter_plugin)
        .use(container_plugin, name="block", validate=lambda *_: True)
        .use(attrs_plugin, spans=True)
        .use(deflist_plugin)
        .enable("table")
    )


def slug(text: str) -> str:
    """A URL fragment for a glossary term (ASCII letters, digits and hyphens)."""
    table = str.maketrans("åäöáéü", "aaoaeu")
    out = []
    for ch in text.lower().translate(table):
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-") or "term"


def inline_text(token: Token) -> str:
    """Plain text of an inline token (what a screen reader would say)."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


class Renderer:
    """Renders (already validated) block tokens of one module to HTML."""

    def __init__(self, md: MarkdownIt, module_dir: Path | None) -> None:
        self.md = md
        self.module_dir = module_dir

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            if token.type == "inline":
                self._rewrite_inline(token.children or [])
        out = self.md.renderer.render(list(tokens), self.md.options, {})
        # A blank line would end an HTML block inside a notebook's Markdown cell.
        return "\n".join(line for line in out.splitlines() if line.strip())

    def render_inline(self, token: Token) -> str:
        return self.render([token]).strip()

    def _rewrite_inline(self, children: list[Token]) -> None:
        for child in children:
            if child.type == "span_open":
                cls = child.attrs.get("class")
                if cls == "term":
                    child.attrs = {"class": "ol-term"}
                elif "lang" in child.attrs:
                    child.attrs = {"lang": str(child.attrs["lang"])}
            elif child.type == "image" and self.module_dir is not None:
                child.attrs["src"] = self._data_uri(str(child.attrs.get("src", "")))
                child.attrs["loading"] = "lazy"
            elif child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                if href.startswith(("http://", "https://")):
                    child.attrs["rel"] = "noopener noreferrer"
                    child.attrs["target"] = "_blank"

    def _data_uri(self, src: str) -> str:
        """Embed a (validated) image file; anything else is left as is, already reported."""
        assert self.module_dir is not None
        path = (self.module_dir / src).resolve()
        if not (path.is_relative_to(self.module_dir.resolve()) and path.is_file()):
            return src
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"data:{mime};base64,{data}"


def escape(text: str) -> str:
    return html.escape(text, quote=True)
