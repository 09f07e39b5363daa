"""The five question kinds: enkelval, flerval, sant-falskt, ordning and para."""

from __future__ import annotations

from markdown_it.token import Token

from omsorgslyft.authoring.context import Group, ParseContext, groups, option_id
from omsorgslyft.authoring.markdown import inline_text
from omsorgslyft.model import Option, Pair, Question, QuestionKind


def _points(ctx: ParseContext, attrs: dict[str, str], line: int) -> int:
    raw = attrs.get("vikt", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 10:
        ctx.error(line, f'vikt ska vara ett heltal 1–10, inte "{raw}".')
        return 1
    return int(raw)


def _split_body(
    body: list[Group], list_type: str | None
) -> tuple[list[Token], Group | None, Group | None, list[Group]]:
    """prompt tokens, the answer list, the explanation blockquote, anything unexpected."""
    prompt: list[Token] = []
    answers: Group | None = None
    explanation: Group | None = None
    extra: list[Group] = []
    for g in body:
        if answers is None and g[0].type == list_type:
            answers = g
        elif answers is None and explanation is None and g[0].type != "blockquote_open":
            prompt.extend(g)
        elif explanation is None and g[0].type == "blockquote_open":
            explanation = g
        else:
            extra.append(g)
    return prompt, answers, explanation, extra


def question(
    ctx: ParseContext,
    kind: QuestionKind,
    qid: str,
    attrs: dict[str, str],
    group: Group,
    line: int,
    graded: bool,
) -> Question | None:
    points = _points(ctx, attrs, line) if graded else 1
    body = groups(group[1:-1])
    list_type = {
        QuestionKind.ORDERING: "ordered_list_open",
        QuestionKind.MATCHING: "dl_open",
    }.get(kind, "bullet_list_open")
    # true/false has no answer list: any list belongs to the statement
    prompt, answers, explanation, extra = _split_body(
        body, None if kind is QuestionKind.TRUE_FALSE else list_type
    )
    for g in extra:
        ctx.error(
            ctx.line_of(g[0], line),
            f'Oväntat innehåll i frågan "{qid}". Efter svarsalternativen får bara en '
            "förklaring (en rad som börjar med >) stå.",
        )
    if not prompt:
        ctx.error(line, f'Frågan "{qid}" saknar frågetext före svarsalternativen.')
    prompt_html = ctx.renderer.render(prompt)
    expl_html = ctx.renderer.render(explanation[1:-1]) if explanation else ""
    if graded and not expl_html:
        ctx.error(
            line,
            f'Frågan "{qid}" i kunskapskontrollen saknar förklaring. Skriv en rad som börjar '
            "med > sist i blocket; den visas när deltagaren har blivit godkänd.",
        )
    common = {
        "id": qid,
        "kind": kind,
        "prompt_html": prompt_html,
        "line": line,
        "graded": graded,
        "points": points,
        "explanation_html": expl_html,
        "section_id": attrs.get("avsnitt", ""),
        "group": attrs.get("grupp", ""),
    }
    if kind is QuestionKind.TRUE_FALSE:
        answer = attrs.get("svar")
        if answer not in ("sant", "falskt"):
            ctx.error(line, f'Frågan "{qid}" behöver svar=sant eller svar=falskt.')
            return None
        options = tuple(
            Option(option_id(ctx.module_id, qid, label), label, label.lower() == answer)
            for label in ("Sant", "Falskt")
        )
        return Question(options=options, **common)  # type: ignore[arg-type]
    if answers is None:
        what = {
            QuestionKind.ORDERING: "en numrerad lista (1. 2. 3.) i rätt ordning",
            QuestionKind.MATCHING: "par: ett begrepp på en rad och `: ` följt av det som hör ihop med det på nästa",
        }.get(kind, "en lista med alternativ (- [x] rätt, - [ ] fel)")
        ctx.error(line, f'Frågan "{qid}" saknar svarsalternativ. Skriv {what}.')
        return None
    if kind is QuestionKind.ORDERING:
        items = _ordering(ctx, qid, answers, line)
        return Question(items=items, **common) if items else None  # type: ignore[arg-type]
    if kind is QuestionKind.MATCHING:
        pairs = _pairs(ctx, qid, answers, line)
        return Question(pairs=pairs, **common) if pairs else None  # type: ignore[arg-type]
    options = _choices(ctx, kind, qid, answers, line)
    return Question(options=options, **common) if options else None  # type: ignore[arg-type]


def _choices(
    ctx: ParseContext, kind: QuestionKind, qid: str, answers: Group, line: int
) -> tuple[Option, ...]:
    options: list[Option] = []
    texts: set[str] = set()
    ok = True
    for item in groups(answers[1:-1]):
        item_line = ctx.line_of(item[0], line)
        parts = groups(item[1:-1])
        inline = parts[0][1] if parts and parts[0][0].type == "paragraph_open" else None
        first = inline.children[0] if inline is not None and inline.children else None
        marker = first.content[:4] if first is not None and first.type == "text" else ""
        if marker not in ("[x] ", "[X] ", "[ ] "):
            ctx.error(
                item_line,
                f'Alternativet i frågan "{qid}" ska börja med [x] (rätt) eller [ ] (fel).',
            )
            ok = False
            continue
        assert inline is not None and first is not None
        first.content = first.content[4:]
        text = inline_text(inline).strip()
        if text in texts:
            ctx.error(item_line, f'Frågan "{qid}" har samma alternativ två gånger: "{text}".')
            ok = False
        texts.add(text)
        feedback = ""
        for extra in parts[1:]:
            if extra[0].type == "blockquote_open":
                feedback = ctx.renderer.render(extra[1:-1])
            else:
                ctx.error(
                    ctx.line_of(extra[0], item_line),
                    f'Under ett alternativ i frågan "{qid}" får bara återkoppling (> ...) stå.',
                )
                ok = False
        options.append(
            Option(
                option_id(ctx.module_id, qid, text),
                ctx.renderer.render_inline(inline),
                marker in ("[x] ", "[X] "),
                feedback,
            )
        )
    correct = sum(o.correct for o in options)
    if len(options) < 2 and ok:
        ctx.error(line, f'Frågan "{qid}" behöver minst två alternativ.')
        return ()
    if ok and correct == 0:
        ctx.error(line, f'Frågan "{qid}" har inget rätt svar. Markera rätt alternativ med [x].')
        return ()
    if ok and kind is QuestionKind.SINGLE and correct > 1:
        ctx.error(
            line,
            f'Frågan "{qid}" är enkelval men har {correct} rätta svar. Markera bara ett, '
            'eller gör frågan till "flerval".',
        )
        return ()
    if ok and kind is QuestionKind.MULTIPLE and correct == len(options):
        ctx.error(
            line,
            f'Alla alternativ i frågan "{qid}" är rätt. Lägg till minst ett fel alternativ.',
        )
        return ()
    return tuple(options) if ok else ()


def _ordering(ctx: ParseContext, qid: str, answers: Group, line: int) -> tuple[Option, ...]:
    items: list[Option] = []
    texts: set[str] = set()
    for item in groups(answers[1:-1]):
        parts = groups(item[1:-1])
        item_line = ctx.line_of(item[0], line)
        if len(parts) != 1 or parts[0][0].type != "paragraph_open":
            ctx.error(item_line, f'Varje steg i frågan "{qid}" ska vara en enda rad text.')
            return ()
        inline = parts[0][1]
        text = inline_text(inline).strip()
        if text in texts:
            ctx.error(item_line, f'Frågan "{qid}" har samma steg två gånger: "{text}".')
            return ()
        texts.add(text)
        items.append(
            Option(option_id(ctx.module_id, qid, text), ctx.renderer.render_inline(inline))
        )
    if len(items) < 3:
        ctx.error(line, f'Frågan "{qid}" behöver minst tre steg att ordna.')
        return ()
    return tuple(items)


def _pairs(ctx: ParseContext, qid: str, answers: Group, line: int) -> tuple[Pair, ...]:
    pairs: list[Pair] = []
    lefts: set[str] = set()
    rights: set[str] = set()
    dl = groups(answers[1:-1])
    for i, g in enumerate(dl):
        if g[0].type != "dt_open":
            continue
        left_inline = g[1]
        item_line = ctx.line_of(g[0], line)
        dd = dl[i + 1] if i + 1 < len(dl) and dl[i + 1][0].type == "dd_open" else None
        inner = groups(dd[1:-1]) if dd else []
        if len(inner) != 1 or inner[0][0].type != "paragraph_open":
            ctx.error(item_line, f'Varje par i frågan "{qid}" ska ha en rad efter ": ".')
            return ()
        right_inline = inner[0][1]
        left, right = inline_text(left_inline).strip(), inline_text(right_inline).strip()
        if left in lefts or right in rights:
            ctx.error(item_line, f'Frågan "{qid}" har samma text i två par: "{left}".')
            return ()
        lefts.add(left)
        rights.add(right)
        pairs.append(
            Pair(
                option_id(ctx.module_id, qid, "L:" + left),
                ctx.renderer.render_inline(left_inline),
                option_id(ctx.module_id, qid, "R:" + right),
                ctx.renderer.render_inline(right_inline),
            )
        )
    if len(pairs) < 2:
        ctx.error(line, f'Frågan "{qid}" behöver minst två par.')
        return ()
    return tuple(pairs)
