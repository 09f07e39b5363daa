"""``::: ordlista``: terms and their explanations, and the ``{.term}`` marks that use them."""

from __future__ import annotations

from omsorgslyft.authoring.context import Group, ParseContext, groups
from omsorgslyft.authoring.markdown import inline_text
from omsorgslyft.model import Block, Glossary, GlossaryTerm


def glossary(ctx: ParseContext, group: Group, line: int) -> Glossary | None:
    body = groups(group[1:-1])
    if len(body) != 1 or body[0][0].type != "dl_open":
        ctx.error(
            line,
            "Ordlistan ska bara innehålla ord och förklaringar: ordet på en rad och "
            "förklaringen på nästa rad efter `: `.",
        )
        return None
    terms: list[GlossaryTerm] = []
    dl = groups(body[0][1:-1])
    for i, g in enumerate(dl):
        if g[0].type != "dt_open":
            continue
        dd = dl[i + 1] if i + 1 < len(dl) and dl[i + 1][0].type == "dd_open" else None
        term_line = ctx.line_of(g[0], line)
        if dd is None:
            ctx.error(term_line, "Ordet i ordlistan saknar förklaring.")
            return None
        terms.append(
            GlossaryTerm(
                ctx.renderer.render_inline(g[1]),
                inline_text(g[1]).strip(),
                ctx.renderer.render(dd[1:-1]),
                term_line,
            )
        )
    return Glossary(tuple(terms), line)


def check_terms(ctx: ParseContext, blocks: list[Block]) -> None:
    glossary = [t for b in blocks if isinstance(b, Glossary) for t in b.terms]
    known = {t.term_text.casefold() for t in glossary}
    seen: set[str] = set()
    for term in glossary:
        key = term.term_text.casefold()
        if key in seen:
            ctx.error(term.line, f'Ordet "{term.term_text}" står två gånger i ordlistan.')
        seen.add(key)
    for text, line in ctx.term_refs:
        if text.casefold() not in known:
            ctx.error(
                line,
                f'"{text}" är märkt som ordlisteord men finns inte i ordlistan. Lägg till '
                "det i ::: ordlista eller ta bort {.term}.",
            )
