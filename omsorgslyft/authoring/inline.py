"""Checks over every token: raw HTML, images, links, marked text and attributes.

These run once over the whole file, inside blocks and out, before the blocks are read; the
``{.term}`` references they collect are checked against the glossary at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it.token import Token

from omsorgslyft.authoring.context import ParseContext
from omsorgslyft.authoring.markdown import IMAGE_TYPES, LANGUAGES, MAX_IMAGE_BYTES, refused_attrs


def check_inline(ctx: ParseContext, tokens: Sequence[Token]) -> None:
    line = 1
    for token in tokens:
        line = ctx.line_of(token, line)
        if token.type == "html_block":
            _html_error(ctx, line, token.content)
        for child in token.children or []:
            if child.type == "html_inline":
                _html_error(ctx, line, child.content)
            elif child.type == "image":
                _check_image(ctx, line, child)
                _check_attrs(ctx, line, child)
            elif child.type == "span_open":
                _check_span(ctx, line, child)
            elif child.type == "link_open":
                _check_link(ctx, line, child)
                _check_attrs(ctx, line, child)
            elif child.type == "code_inline":
                _check_attrs(ctx, line, child)
        if token.type == "inline":
            _collect_terms(ctx, token, line)


def _html_error(ctx: ParseContext, line: int, content: str) -> None:
    lowered = content.lower()
    if "<script" in lowered:
        why = "<script> kan köra kod i deltagarens webbläsare"
    elif any(f" on{name}" in lowered for name in ("click", "load", "error", "mouse", "focus")):
        why = "händelseattribut (till exempel onclick) kan köra kod i deltagarens webbläsare"
    else:
        why = "använd Markdown och block i stället"
    snippet = content.strip().splitlines()[0][:40] if content.strip() else content
    ctx.error(line, f"HTML är inte tillåtet ({snippet}): {why}.")


def _check_image(ctx: ParseContext, line: int, token: Token) -> None:
    src = str(token.attrs.get("src", ""))
    if not token.content.strip():
        ctx.error(
            line,
            f"Bilden {src} saknar alternativtext. Skriv vad bilden visar mellan [ och ], "
            "så att den som använder skärmläsare får samma information.",
        )
    if src.startswith(("http://", "https://", "//", "data:")):
        ctx.error(line, f"Bilden {src} måste ligga som fil i modulens mapp.")
        return
    if ctx.module_dir is None:
        return
    path = (ctx.module_dir / src).resolve()
    if not path.is_relative_to(ctx.module_dir.resolve()):
        ctx.error(line, f"Bilden {src} måste ligga i modulens mapp.")
    elif path.suffix.lower() not in IMAGE_TYPES:
        ctx.error(line, f"Bilden {src} ska vara png, jpg, gif, webp eller svg.")
    elif not path.is_file():
        ctx.error(line, f"Bildfilen {src} finns inte i modulens mapp.")
    elif path.stat().st_size > MAX_IMAGE_BYTES:
        ctx.error(line, f"Bilden {src} är större än 2 MB. Gör den mindre.")


def _check_span(ctx: ParseContext, line: int, token: Token) -> None:
    attrs = dict(token.attrs)
    lang = attrs.pop("lang", None)
    cls = attrs.pop("class", None)
    unknown = sorted(refused_attrs(token))
    if unknown:
        ctx.error(line, f"Okänd inställning {', '.join(unknown)} på markerad text.")
    if lang is not None and lang not in LANGUAGES:
        known = ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())
        ctx.error(line, f'Okänd språkkod "{lang}". Använd en av: {known}.')
    if cls is not None and cls != "term":
        ctx.error(line, f'Okänd klass ".{cls}". Ordlisteord märks med {{.term}}.')
    if lang is None and cls is None:
        ctx.error(line, "Markerad text behöver {lang=...} eller {.term}.")


def _check_attrs(ctx: ParseContext, line: int, token: Token) -> None:
    """Links, images and code take no {...}: only what their Markdown writes is kept."""
    refused = refused_attrs(token)
    if not refused:
        return
    names = ", ".join(
        f".{value.replace(' ', ' .')}" if key == "class" else f"#{value}" if key == "id" else key
        for key, value in sorted(refused.items())
    )
    what = (
        f"Inställningarna {names} är inte tillåtna"
        if len(refused) > 1
        else f"Inställningen {names} är inte tillåten"
    )
    if token.type == "link_open":
        where = f"på länken {token.attrs.get('href', '')}"
        how = 'En länk får bara ha en adress och en titel: [text](https://adress "titel").'
    elif token.type == "image":
        where = f"på bilden {token.attrs.get('src', '')}"
        how = "En bild får bara ha en fil och en alternativtext: ![beskrivning](fil.png)."
    else:
        where = f"på koden `{token.content[:40]}`"
        how = "Kod i texten kan inte ha inställningar."
    ctx.error(line, f"{what} {where}. {how}")


def _check_link(ctx: ParseContext, line: int, token: Token) -> None:
    href = str(token.attrs.get("href", ""))
    if not href.startswith(("https://", "http://", "#", "mailto:")):
        ctx.error(line, f"Länken {href} ska börja med https://.")


def _collect_terms(ctx: ParseContext, token: Token, line: int) -> None:
    children = token.children or []
    for i, child in enumerate(children):
        if child.type == "span_open" and child.attrs.get("class") == "term":
            text = []
            for nxt in children[i + 1 :]:
                if nxt.type == "span_close":
                    break
                text.append(nxt.content)
            ctx.term_refs.append(("".join(text).strip(), line))
