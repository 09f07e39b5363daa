"""The markdown-it-py parser and the safe HTML renderer used for module text.

Syntax comes from markdown-it-py plugins only (front matter, containers, attribute spans,
definition lists). Raw HTML is parsed (so it can be reported) but never rendered: the
parser refuses any module that contains it.

Attributes are an allow-list: ``{...}`` may only give a span its language or the glossary
class (the attrs plugin keeps anything else aside in ``meta["insecure_attrs"]``), and the
renderer keeps only the attributes it knows on each element (:data:`KEPT_ATTRS`) and only
links to the web, e-mail or the page itself. The parser reports whatever is dropped.
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

#: what ``{...}`` after text may set: a language (``{lang=se}``) or the glossary class
#: (``{.term}``); the attrs plugin sets nothing else on any element
SPAN_ATTRS = ("lang", "class")
#: the attributes an inline element keeps from the parse; every other one is dropped before
#: rendering (the renderer itself then adds rel/target to web links and loading to images)
KEPT_ATTRS: dict[str, frozenset[str]] = {
    "link_open": frozenset({"href", "title"}),
    "image": frozenset({"src", "alt", "title"}),
    "span_open": frozenset(SPAN_ATTRS),
}
#: where a link may go: the web, e-mail, or a place on the same page (``#...``)
LINK_SCHEMES = ("https://", "http://", "mailto:")


def make_parser() -> MarkdownIt:
    """A CommonMark parser with the plugins the module format uses."""
    return (
        MarkdownIt("commonmark", {"html": True, "typographer": False})
        .use(front_matter_plugin)
        .use(container_plugin, name="block", validate=lambda *_: True)
        .use(attrs_plugin, spans=True, allowed=SPAN_ATTRS)
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


def safe_href(href: str) -> bool:
    """Whether a link may go to ``href``: the web, e-mail, or a place on the page."""
    return href.startswith("#") or href.lower().startswith(LINK_SCHEMES)


def refused_attrs(token: Token) -> dict[str, str]:
    """Attributes written on an inline element that the compiler does not render.

    Those the attrs plugin kept aside (anything but a language or a class, and any URL
    ``md.validateLink`` refuses) and those the element does not keep (:data:`KEPT_ATTRS`).
    """
    kept = KEPT_ATTRS.get(token.type, frozenset())
    refused = {str(k): str(v) for k, v in token.meta.get("insecure_attrs", {}).items()}
    refused.update((str(k), str(v)) for k, v in token.attrs.items() if k not in kept)
    return refused


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
        #: section heading id -> its text, in the order rendered
        self.headings: dict[str, str] = {}

    def render(self, tokens: Sequence[Token]) -> str:
        for i, token in enumerate(tokens):
            if token.type == "inline":
                self._rewrite_inline(token.children or [])
            elif token.type == "heading_open" and token.tag in ("h2", "h3") and i + 1 < len(tokens):
                self._name_heading(token, inline_text(tokens[i + 1]))
        out = self.md.renderer.render(list(tokens), self.md.options, {})
        # A blank line would end an HTML block inside a notebook's Markdown cell.
        return "\n".join(line for line in out.splitlines() if line.strip())

    def _name_heading(self, token: Token, text: str) -> None:
        """Give a section heading an id (its slug) that links and review can point to."""
        base = slug(text)
        key, n = base, 2
        while key in self.headings:  # ids are unique on the page, even for the same text
            key, n = f"{base}-{n}", n + 1
        self.headings[key] = text
        token.attrs["id"] = key

    def render_inline(self, token: Token) -> str:
        return self.render([token]).strip()

    def _rewrite_inline(self, children: list[Token]) -> None:
        for child in children:
            kept = KEPT_ATTRS.get(child.type, frozenset())
            child.attrs = {k: v for k, v in child.attrs.items() if k in kept}
            if child.type == "span_open":
                cls = child.attrs.get("class")
                if cls == "term":
                    child.attrs = {"class": "ol-term"}
                elif "lang" in child.attrs:
                    child.attrs = {"lang": str(child.attrs["lang"])}
                else:
                    child.attrs = {}
            elif child.type == "image":
                self._image(child)
            elif child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                if not safe_href(href):
                    # already reported; a link without href goes nowhere
                    child.attrs.pop("href", None)
                elif href.lower().startswith(("http://", "https://")):
                    child.attrs["rel"] = "noopener noreferrer"
                    child.attrs["target"] = "_blank"

    def _image(self, token: Token) -> None:
        """Embed the module's image file; a source anywhere else is dropped (and reported)."""
        if token.meta.get("embedded"):  # rendered before
            token.attrs["loading"] = "lazy"
            return
        src = str(token.attrs.get("src", ""))
        if self.module_dir is None:
            # no folder to embed from (a text parsed on its own): keep only a relative path
            if not _is_relative_path(src):
                token.attrs.pop("src", None)
            return
        embedded = self._data_uri(src)
        if embedded is None:
            token.attrs.pop("src", None)
        else:
            token.attrs["src"] = embedded
            token.attrs["loading"] = "lazy"
            token.meta["embedded"] = True

    def _data_uri(self, src: str) -> str | None:
        """A data URI of a file in the module's folder, or None for any other source."""
        assert self.module_dir is not None
        if not _is_relative_path(src):
            return None
        path = (self.module_dir / src).resolve()
        if not (path.is_relative_to(self.module_dir.resolve()) and path.is_file()):
            return None
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"data:{mime};base64,{data}"


def _is_relative_path(src: str) -> bool:
    """A path without a scheme or host (``bild.png``, ``bilder/kok.jpg``)."""
    return bool(src) and not src.startswith("//") and ":" not in src.partition("/")[0]


def escape(text: str) -> str:
    return html.escape(text, quote=True)
