"""Parse and validate one module file.

The walk is over markdown-it-py tokens: ``:::`` containers become blocks, definition lists
become pairs and glossary terms, links in dialogue nodes become branches. Every problem is
collected with its line, so a trainer sees all of them at once.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from markdown_it.token import Token
from mdit_py_plugins.attrs.parse import ParseError
from mdit_py_plugins.attrs.parse import parse as parse_attrs

from omsorgslyft.authoring.checkrules import check_pool, parse_check_rules
from omsorgslyft.authoring.diagnostics import Diagnostic, ModuleError
from omsorgslyft.authoring.frontmatter import FrontMatter, is_valid_id, parse_front_matter
from omsorgslyft.authoring.markdown import (
    IMAGE_TYPES,
    LANGUAGES,
    MAX_IMAGE_BYTES,
    Renderer,
    inline_text,
    make_parser,
    refused_attrs,
)
from omsorgslyft.model import (
    Block,
    CheckRules,
    Dialogue,
    DialogueChoice,
    DialogueNode,
    Glossary,
    GlossaryTerm,
    Module,
    Option,
    Pair,
    Prose,
    Question,
    QuestionKind,
    Reflection,
)

Group = list[Token]

QUESTION_BLOCKS = {kind.value: kind for kind in QuestionKind}
BLOCK_NAMES = [*QUESTION_BLOCKS, "dialog", "reflektion", "ordlista", "kunskapskontroll"]
ALLOWED_ATTRS = {
    "enkelval": {"id", "vikt", "avsnitt", "grupp"},
    "flerval": {"id", "vikt", "avsnitt", "grupp"},
    "sant-falskt": {"id", "vikt", "svar", "avsnitt", "grupp"},
    "ordning": {"id", "vikt", "avsnitt", "grupp"},
    "para": {"id", "vikt", "avsnitt", "grupp"},
    "dialog": {"id"},
    "nod": {"id"},
    "reflektion": {"id"},
    "ordlista": set(),
    "kunskapskontroll": set(),
}


def groups(tokens: Sequence[Token]) -> list[Group]:
    """Split a balanced token run into its top-level blocks (opener..closer, or one token)."""
    out: list[Group] = []
    i = 0
    while i < len(tokens):
        if tokens[i].nesting != 1:
            out.append([tokens[i]])
            i += 1
            continue
        depth, j = 0, i
        while True:
            depth += tokens[j].nesting
            j += 1
            if depth == 0 or j == len(tokens):
                break
        out.append(list(tokens[i:j]))
        i = j
    return out


def option_id(module_id: str, block_id: str, text: str) -> str:
    """A stable, opaque id for an option: it reveals nothing about correctness or order."""
    digest = hashlib.sha256(f"{module_id}\x1f{block_id}\x1f{text}".encode()).hexdigest()
    return digest[:10]


class ModuleParser:
    """Parses one file; ``diagnostics`` collects every problem found."""

    def __init__(self, text: str, path: str, module_dir: Path | None = None) -> None:
        self.text = text
        self.path = path
        self.lines = text.splitlines()
        self.module_dir = module_dir
        self.md = make_parser()
        self.renderer = Renderer(self.md, module_dir)
        self.diagnostics: list[Diagnostic] = []
        self.module_id = ""
        self.block_ids: set[str] = set()
        self.term_refs: list[tuple[str, int]] = []

    # -- reporting --------------------------------------------------------------------
    def error(self, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, line, message))

    @staticmethod
    def line_of(token: Token, default: int = 1) -> int:
        return token.map[0] + 1 if token.map else default

    # -- entry point ------------------------------------------------------------------
    def parse(self) -> Module | None:
        tokens = self.md.parse(self.text)
        front: FrontMatter | None = None
        if not tokens or tokens[0].type != "front_matter":
            self.error(1, "Filen ska börja med uppgifter om modulen mellan två rader med ---.")
        else:
            front = parse_front_matter(tokens[0].content, 2, self.error)
            if front is not None:
                self.module_id = front.id
                self._check_folder(front)
            tokens = tokens[1:]
        self._check_inline(tokens)
        blocks = self._top_level(tokens)
        self._check_module(blocks)
        blocks = self._sections(blocks)
        rules = CheckRules()
        if front is not None and front.check_raw is not None:
            rules = parse_check_rules(front.check_raw, front.check_line, self.error)
            pool = [b for b in blocks if isinstance(b, Question) and b.graded]
            check_pool(rules, pool, front.check_line, self.error)
        if self.diagnostics or front is None:
            return None
        return Module(
            id=front.id,
            title=front.title,
            version=front.version,
            language=front.language,
            minutes=front.minutes,
            pass_mark=front.pass_mark,
            validity_months=front.validity_months,
            competences=front.competences,
            sources=front.sources,
            objectives=front.objectives,
            blocks=tuple(blocks),
            path=self.path,
            summary=front.summary,
            audience=front.audience,
            check=rules,
        )

    def _check_folder(self, front: FrontMatter) -> None:
        if self.module_dir is not None and self.module_dir.name != front.id:
            self.error(
                2,
                f'Id:t "{front.id}" ska vara samma som mappens namn "{self.module_dir.name}".',
            )

    # -- checks over every token ------------------------------------------------------
    def _check_inline(self, tokens: Sequence[Token]) -> None:
        line = 1
        for token in tokens:
            line = self.line_of(token, line)
            if token.type == "html_block":
                self._html_error(line, token.content)
            for child in token.children or []:
                if child.type == "html_inline":
                    self._html_error(line, child.content)
                elif child.type == "image":
                    self._check_image(line, child)
                    self._check_attrs(line, child)
                elif child.type == "span_open":
                    self._check_span(line, child)
                elif child.type == "link_open":
                    self._check_link(line, child)
                    self._check_attrs(line, child)
                elif child.type == "code_inline":
                    self._check_attrs(line, child)
            if token.type == "inline":
                self._collect_terms(token, line)

    def _html_error(self, line: int, content: str) -> None:
        lowered = content.lower()
        if "<script" in lowered:
            why = "<script> kan köra kod i deltagarens webbläsare"
        elif any(f" on{name}" in lowered for name in ("click", "load", "error", "mouse", "focus")):
            why = "händelseattribut (till exempel onclick) kan köra kod i deltagarens webbläsare"
        else:
            why = "använd Markdown och block i stället"
        snippet = content.strip().splitlines()[0][:40] if content.strip() else content
        self.error(line, f"HTML är inte tillåtet ({snippet}): {why}.")

    def _check_image(self, line: int, token: Token) -> None:
        src = str(token.attrs.get("src", ""))
        if not token.content.strip():
            self.error(
                line,
                f"Bilden {src} saknar alternativtext. Skriv vad bilden visar mellan [ och ], "
                "så att den som använder skärmläsare får samma information.",
            )
        if src.startswith(("http://", "https://", "//", "data:")):
            self.error(line, f"Bilden {src} måste ligga som fil i modulens mapp.")
            return
        if self.module_dir is None:
            return
        path = (self.module_dir / src).resolve()
        if not path.is_relative_to(self.module_dir.resolve()):
            self.error(line, f"Bilden {src} måste ligga i modulens mapp.")
        elif path.suffix.lower() not in IMAGE_TYPES:
            self.error(line, f"Bilden {src} ska vara png, jpg, gif, webp eller svg.")
        elif not path.is_file():
            self.error(line, f"Bildfilen {src} finns inte i modulens mapp.")
        elif path.stat().st_size > MAX_IMAGE_BYTES:
            self.error(line, f"Bilden {src} är större än 2 MB. Gör den mindre.")

    def _check_span(self, line: int, token: Token) -> None:
        attrs = dict(token.attrs)
        lang = attrs.pop("lang", None)
        cls = attrs.pop("class", None)
        unknown = sorted(refused_attrs(token))
        if unknown:
            self.error(line, f"Okänd inställning {', '.join(unknown)} på markerad text.")
        if lang is not None and lang not in LANGUAGES:
            known = ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())
            self.error(line, f'Okänd språkkod "{lang}". Använd en av: {known}.')
        if cls is not None and cls != "term":
            self.error(line, f'Okänd klass ".{cls}". Ordlisteord märks med {{.term}}.')
        if lang is None and cls is None:
            self.error(line, "Markerad text behöver {lang=...} eller {.term}.")

    def _check_attrs(self, line: int, token: Token) -> None:
        """Links, images and code take no {...}: only what their Markdown writes is kept."""
        refused = refused_attrs(token)
        if not refused:
            return
        names = ", ".join(
            f".{value.replace(' ', ' .')}"
            if key == "class"
            else f"#{value}"
            if key == "id"
            else key
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
        self.error(line, f"{what} {where}. {how}")

    def _check_link(self, line: int, token: Token) -> None:
        href = str(token.attrs.get("href", ""))
        if not href.startswith(("https://", "http://", "#", "mailto:")):
            self.error(line, f"Länken {href} ska börja med https://.")

    def _collect_terms(self, token: Token, line: int) -> None:
        children = token.children or []
        for i, child in enumerate(children):
            if child.type == "span_open" and child.attrs.get("class") == "term":
                text = []
                for nxt in children[i + 1 :]:
                    if nxt.type == "span_close":
                        break
                    text.append(nxt.content)
                self.term_refs.append(("".join(text).strip(), line))

    # -- block structure --------------------------------------------------------------
    def _container(self, group: Group) -> tuple[str, dict[str, str]] | None:
        """Name and attributes of a ``:::`` container, or None after reporting a problem."""
        opener = group[0]
        line = self.line_of(opener)
        _, end = opener.map or (0, 0)
        # markdown-it's map ends before the closing fence; an unclosed block has none
        closing = self.lines[end].strip() if end < len(self.lines) else ""
        name, _, rest = opener.info.strip().partition(" ")
        if not name:
            self.error(
                line,
                f"En rad med {opener.markup} står utan att något block börjar där. Kanske stängdes "
                "ett block för tidigt: ett block som står inuti ett annat behöver färre kolon än "
                "det yttre.",
            )
            return None
        if not closing.startswith(":::") or closing.strip(":"):
            self.error(
                line,
                f'Blocket "{name}" stängs aldrig. Lägg till en rad med {opener.markup} '
                "där blocket slutar.",
            )
            return None
        rest = rest.strip()
        attrs: dict[str, str] = {}
        if rest:
            if not (rest.startswith("{") and rest.endswith("}")):
                self.error(
                    line, f'Efter blocknamnet "{name}" kan bara {{#id}} och inställningar stå.'
                )
                return None
            try:
                consumed, parsed = parse_attrs(rest)
            except ParseError as exc:
                self.error(line, f'Inställningarna för "{name}" går inte att läsa: {exc}.')
                return None
            if consumed != len(rest) - 1:
                self.error(line, f'Inställningarna för "{name}" går inte att läsa.')
                return None
            attrs = {str(k): str(v) for k, v in parsed.items()}
        if name not in ALLOWED_ATTRS:
            hint = ", ".join(BLOCK_NAMES)
            self.error(line, f'Okänt block "{name}". Kända block: {hint}.')
            return None
        unknown = sorted(set(attrs) - ALLOWED_ATTRS[name])
        if "class" in unknown:
            unknown.remove("class")
            self.error(line, f'Blocket "{name}" har en okänd klass. Klasser används inte på block.')
        if unknown:
            self.error(line, f'Blocket "{name}" har okänd inställning: {", ".join(unknown)}.')
        return name, attrs

    def _block_id(self, name: str, attrs: dict[str, str], line: int) -> str | None:
        block_id = attrs.get("id")
        if not block_id:
            self.error(line, f'Blocket "{name}" behöver ett id, till exempel {{#{name}-1}}.')
            return None
        if not is_valid_id(block_id):
            self.error(
                line,
                f'Id:t "{block_id}" får bara innehålla små bokstäver a–z, siffror och bindestreck.',
            )
            return None
        if block_id in self.block_ids:
            self.error(
                line, f'Id:t "{block_id}" finns redan i modulen. Varje block behöver ett eget id.'
            )
            return None
        self.block_ids.add(block_id)
        return block_id

    def _top_level(self, tokens: Sequence[Token]) -> list[Block]:
        blocks: list[Block] = []
        prose: list[Group] = []
        seen_check = False

        def flush() -> None:
            if prose:
                flat = [t for g in prose for t in g]
                blocks.append(Prose(self.renderer.render(flat), self.line_of(flat[0])))
                prose.clear()

        for group in groups(tokens):
            head = group[0]
            if head.type == "heading_open" and head.tag in ("h1", "h2"):
                flush()
            if head.type != "container_block_open":
                prose.append(group)
                continue
            flush()
            found = self._container(group)
            if found is None:
                continue
            name, attrs = found
            line = self.line_of(head)
            if name == "kunskapskontroll":
                if seen_check:
                    self.error(line, "Modulen har redan en kunskapskontroll. Samla frågorna i en.")
                    continue
                seen_check = True
                blocks.extend(self._knowledge_check(group))
            elif name == "nod":
                self.error(line, 'Blocket "nod" hör hemma inuti ett "dialog"-block.')
            else:
                block = self._block(name, attrs, group, graded=False)
                if block is not None:
                    blocks.append(block)
        flush()
        if not seen_check:
            self.error(
                len(self.lines) or 1,
                'Modulen saknar kunskapskontroll. Lägg frågorna som ska rättas i ett block ":::: kunskapskontroll".',
            )
        return blocks

    def _knowledge_check(self, group: Group) -> list[Block]:
        out: list[Block] = []
        line = self.line_of(group[0])
        questions = 0
        for inner in groups(group[1:-1]):
            if inner[0].type != "container_block_open":
                out.append(Prose(self.renderer.render(inner), self.line_of(inner[0], line)))
                continue
            found = self._container(inner)
            if found is None:
                continue
            name, attrs = found
            if name not in QUESTION_BLOCKS:
                self.error(
                    self.line_of(inner[0]),
                    f'Blocket "{name}" kan inte ligga i kunskapskontrollen. Där hör bara frågor hemma '
                    f"({', '.join(QUESTION_BLOCKS)}).",
                )
                continue
            block = self._block(name, attrs, inner, graded=True)
            if block is not None:
                out.append(block)
                questions += 1
        if questions == 0:
            self.error(line, "Kunskapskontrollen har inga frågor.")
        return out

    def _block(self, name: str, attrs: dict[str, str], group: Group, graded: bool) -> Block | None:
        line = self.line_of(group[0])
        if "vikt" in attrs and not graded:
            self.error(
                line, "vikt= gäller bara frågor i kunskapskontrollen (övningar ger inga poäng)."
            )
        if ("avsnitt" in attrs or "grupp" in attrs) and not graded:
            self.error(line, "avsnitt= och grupp= gäller bara frågor i kunskapskontrollen.")
        if name == "ordlista":
            return self._glossary(group, line)
        block_id = self._block_id(name, attrs, line)
        if block_id is None:
            return None
        if name == "reflektion":
            body = group[1:-1]
            if not body:
                self.error(line, f'Reflektionen "{block_id}" saknar en fråga att reflektera över.')
                return None
            return Reflection(block_id, self.renderer.render(body), line)
        if name == "dialog":
            return self._dialogue(block_id, group, line)
        return self._question(QUESTION_BLOCKS[name], block_id, attrs, group, line, graded)

    # -- questions --------------------------------------------------------------------
    def _points(self, attrs: dict[str, str], line: int) -> int:
        raw = attrs.get("vikt", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= 10:
            self.error(line, f'vikt ska vara ett heltal 1–10, inte "{raw}".')
            return 1
        return int(raw)

    def _split_body(
        self, body: list[Group], list_type: str | None
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

    def _question(
        self,
        kind: QuestionKind,
        qid: str,
        attrs: dict[str, str],
        group: Group,
        line: int,
        graded: bool,
    ) -> Question | None:
        points = self._points(attrs, line) if graded else 1
        body = groups(group[1:-1])
        list_type = {
            QuestionKind.ORDERING: "ordered_list_open",
            QuestionKind.MATCHING: "dl_open",
        }.get(kind, "bullet_list_open")
        # true/false has no answer list: any list belongs to the statement
        prompt, answers, explanation, extra = self._split_body(
            body, None if kind is QuestionKind.TRUE_FALSE else list_type
        )
        for g in extra:
            self.error(
                self.line_of(g[0], line),
                f'Oväntat innehåll i frågan "{qid}". Efter svarsalternativen får bara en '
                "förklaring (en rad som börjar med >) stå.",
            )
        if not prompt:
            self.error(line, f'Frågan "{qid}" saknar frågetext före svarsalternativen.')
        prompt_html = self.renderer.render(prompt)
        expl_html = self.renderer.render(explanation[1:-1]) if explanation else ""
        if graded and not expl_html:
            self.error(
                line,
                f'Frågan "{qid}" i kunskapskontrollen saknar förklaring. Skriv en rad som börjar '
                "med > sist i blocket; den visas efter inlämningen.",
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
                self.error(line, f'Frågan "{qid}" behöver svar=sant eller svar=falskt.')
                return None
            options = tuple(
                Option(option_id(self.module_id, qid, label), label, label.lower() == answer)
                for label in ("Sant", "Falskt")
            )
            return Question(options=options, **common)  # type: ignore[arg-type]
        if answers is None:
            what = {
                QuestionKind.ORDERING: "en numrerad lista (1. 2. 3.) i rätt ordning",
                QuestionKind.MATCHING: "par: ett begrepp på en rad och `: ` följt av det som hör ihop med det på nästa",
            }.get(kind, "en lista med alternativ (- [x] rätt, - [ ] fel)")
            self.error(line, f'Frågan "{qid}" saknar svarsalternativ. Skriv {what}.')
            return None
        if kind is QuestionKind.ORDERING:
            items = self._ordering(qid, answers, line)
            return Question(items=items, **common) if items else None  # type: ignore[arg-type]
        if kind is QuestionKind.MATCHING:
            pairs = self._pairs(qid, answers, line)
            return Question(pairs=pairs, **common) if pairs else None  # type: ignore[arg-type]
        options = self._choices(kind, qid, answers, line)
        return Question(options=options, **common) if options else None  # type: ignore[arg-type]

    def _choices(
        self, kind: QuestionKind, qid: str, answers: Group, line: int
    ) -> tuple[Option, ...]:
        options: list[Option] = []
        texts: set[str] = set()
        ok = True
        for item in groups(answers[1:-1]):
            item_line = self.line_of(item[0], line)
            parts = groups(item[1:-1])
            inline = parts[0][1] if parts and parts[0][0].type == "paragraph_open" else None
            first = inline.children[0] if inline is not None and inline.children else None
            marker = first.content[:4] if first is not None and first.type == "text" else ""
            if marker not in ("[x] ", "[X] ", "[ ] "):
                self.error(
                    item_line,
                    f'Alternativet i frågan "{qid}" ska börja med [x] (rätt) eller [ ] (fel).',
                )
                ok = False
                continue
            assert inline is not None and first is not None
            first.content = first.content[4:]
            text = inline_text(inline).strip()
            if text in texts:
                self.error(item_line, f'Frågan "{qid}" har samma alternativ två gånger: "{text}".')
                ok = False
            texts.add(text)
            feedback = ""
            for extra in parts[1:]:
                if extra[0].type == "blockquote_open":
                    feedback = self.renderer.render(extra[1:-1])
                else:
                    self.error(
                        self.line_of(extra[0], item_line),
                        f'Under ett alternativ i frågan "{qid}" får bara återkoppling (> ...) stå.',
                    )
                    ok = False
            options.append(
                Option(
                    option_id(self.module_id, qid, text),
                    self.renderer.render_inline(inline),
                    marker in ("[x] ", "[X] "),
                    feedback,
                )
            )
        correct = sum(o.correct for o in options)
        if len(options) < 2 and ok:
            self.error(line, f'Frågan "{qid}" behöver minst två alternativ.')
            return ()
        if ok and correct == 0:
            self.error(
                line, f'Frågan "{qid}" har inget rätt svar. Markera rätt alternativ med [x].'
            )
            return ()
        if ok and kind is QuestionKind.SINGLE and correct > 1:
            self.error(
                line,
                f'Frågan "{qid}" är enkelval men har {correct} rätta svar. Markera bara ett, '
                'eller gör frågan till "flerval".',
            )
            return ()
        if ok and kind is QuestionKind.MULTIPLE and correct == len(options):
            self.error(
                line,
                f'Alla alternativ i frågan "{qid}" är rätt. Lägg till minst ett fel alternativ.',
            )
            return ()
        return tuple(options) if ok else ()

    def _ordering(self, qid: str, answers: Group, line: int) -> tuple[Option, ...]:
        items: list[Option] = []
        texts: set[str] = set()
        for item in groups(answers[1:-1]):
            parts = groups(item[1:-1])
            item_line = self.line_of(item[0], line)
            if len(parts) != 1 or parts[0][0].type != "paragraph_open":
                self.error(item_line, f'Varje steg i frågan "{qid}" ska vara en enda rad text.')
                return ()
            inline = parts[0][1]
            text = inline_text(inline).strip()
            if text in texts:
                self.error(item_line, f'Frågan "{qid}" har samma steg två gånger: "{text}".')
                return ()
            texts.add(text)
            items.append(
                Option(option_id(self.module_id, qid, text), self.renderer.render_inline(inline))
            )
        if len(items) < 3:
            self.error(line, f'Frågan "{qid}" behöver minst tre steg att ordna.')
            return ()
        return tuple(items)

    def _pairs(self, qid: str, answers: Group, line: int) -> tuple[Pair, ...]:
        pairs: list[Pair] = []
        lefts: set[str] = set()
        rights: set[str] = set()
        dl = groups(answers[1:-1])
        for i, g in enumerate(dl):
            if g[0].type != "dt_open":
                continue
            left_inline = g[1]
            item_line = self.line_of(g[0], line)
            dd = dl[i + 1] if i + 1 < len(dl) and dl[i + 1][0].type == "dd_open" else None
            inner = groups(dd[1:-1]) if dd else []
            if len(inner) != 1 or inner[0][0].type != "paragraph_open":
                self.error(item_line, f'Varje par i frågan "{qid}" ska ha en rad efter ": ".')
                return ()
            right_inline = inner[0][1]
            left, right = inline_text(left_inline).strip(), inline_text(right_inline).strip()
            if left in lefts or right in rights:
                self.error(item_line, f'Frågan "{qid}" har samma text i två par: "{left}".')
                return ()
            lefts.add(left)
            rights.add(right)
            pairs.append(
                Pair(
                    option_id(self.module_id, qid, "L:" + left),
                    self.renderer.render_inline(left_inline),
                    option_id(self.module_id, qid, "R:" + right),
                    self.renderer.render_inline(right_inline),
                )
            )
        if len(pairs) < 2:
            self.error(line, f'Frågan "{qid}" behöver minst två par.')
            return ()
        return tuple(pairs)

    # -- dialogue ---------------------------------------------------------------------
    def _dialogue(self, did: str, group: Group, line: int) -> Dialogue | None:
        intro: list[Token] = []
        nodes: list[DialogueNode] = []
        node_ids: set[str] = set()
        ok = True
        for inner in groups(group[1:-1]):
            if inner[0].type != "container_block_open":
                if nodes:
                    self.error(
                        self.line_of(inner[0], line),
                        f'Text mellan noderna i dialogen "{did}" ska ligga i en nod.',
                    )
                    ok = False
                intro.extend(inner)
                continue
            found = self._container(inner)
            if found is None:
                ok = False
                continue
            name, attrs = found
            node_line = self.line_of(inner[0], line)
            if name != "nod":
                self.error(
                    node_line,
                    f'I dialogen "{did}" får bara block av typen "nod" stå, inte "{name}".',
                )
                ok = False
                continue
            nid = attrs.get("id", "")
            if not is_valid_id(nid):
                self.error(
                    node_line, f'Noden i dialogen "{did}" behöver ett id, till exempel {{#start}}.'
                )
                ok = False
                continue
            if nid in node_ids:
                self.error(node_line, f'Dialogen "{did}" har två noder med id:t "{nid}".')
                ok = False
                continue
            node_ids.add(nid)
            node = self._node(did, nid, inner, node_line)
            if node is None:
                ok = False
            else:
                nodes.append(node)
        if not nodes:
            if ok:
                self.error(line, f'Dialogen "{did}" har inga noder. Skriv dem som ::: nod {{#id}}.')
            return None
        if not ok:
            return None
        if not self._check_graph(did, nodes):
            return None
        return Dialogue(did, self.renderer.render(intro), line, tuple(nodes))

    def _node(self, did: str, nid: str, group: Group, line: int) -> DialogueNode | None:
        text: list[Token] = []
        choices: list[DialogueChoice] = []
        body = groups(group[1:-1])
        for g in body:
            if g[0].type == "bullet_list_open" and g is body[-1]:
                for item in groups(g[1:-1]):
                    choice = self._choice(did, nid, item, line)
                    if choice is None:
                        return None
                    choices.append(choice)
            else:
                text.extend(g)
        if not text:
            self.error(line, f'Noden "{nid}" i dialogen "{did}" saknar text om vad som händer.')
            return None
        return DialogueNode(nid, self.renderer.render(text), line, tuple(choices))

    def _choice(self, did: str, nid: str, item: Group, line: int) -> DialogueChoice | None:
        item_line = self.line_of(item[0], line)
        parts = groups(item[1:-1])
        inline = parts[0][1] if parts and parts[0][0].type == "paragraph_open" else None
        children = [c for c in (inline.children or []) if c.type != "softbreak"] if inline else []
        if not children or children[0].type != "link_open" or children[-1].type != "link_close":
            self.error(
                item_line,
                f'Svarsalternativen i noden "{nid}" ska vara länkar till nästa nod, '
                "till exempel - [Vad är viktigt för dig?](#lyssna).",
            )
            return None
        href = str(children[0].attrs.get("href", ""))
        if not href.startswith("#") or len(href) < 2:
            self.error(
                item_line, f'Länken i noden "{nid}" ska gå till en nod, till exempel (#lyssna).'
            )
            return None
        feedback = ""
        for extra in parts[1:]:
            if extra[0].type != "blockquote_open":
                self.error(
                    self.line_of(extra[0], item_line),
                    f'Under ett svarsalternativ i noden "{nid}" får bara återkoppling (> ...) stå.',
                )
                return None
            feedback = self.renderer.render(extra[1:-1])
        label = Token(
            "inline", "", 0, children=children[1:-1], content=inline_text(inline) if inline else ""
        )
        return DialogueChoice(self.renderer.render_inline(label), href[1:], feedback)

    def _check_graph(self, did: str, nodes: list[DialogueNode]) -> bool:
        by_id = {n.id: n for n in nodes}
        ok = True
        for node in nodes:
            for choice in node.choices:
                if choice.target not in by_id:
                    self.error(
                        node.line,
                        f'Noden "{node.id}" i dialogen "{did}" länkar till "{choice.target}", '
                        "som inte finns. Rätta länken eller lägg till noden.",
                    )
                    ok = False
        if not ok:
            return False
        reachable = {nodes[0].id}
        queue = deque([nodes[0]])
        while queue:
            for choice in queue.popleft().choices:
                if choice.target not in reachable:
                    reachable.add(choice.target)
                    queue.append(by_id[choice.target])
        for node in nodes:
            if node.id not in reachable:
                self.error(
                    node.line,
                    f'Noden "{node.id}" i dialogen "{did}" går inte att nå. Länka till den från '
                    "en annan nod eller ta bort den.",
                )
                ok = False
        # every reachable node must be able to reach an ending
        can_end = {n.id for n in nodes if n.is_end}
        changed = True
        while changed:
            changed = False
            for node in nodes:
                if node.id not in can_end and any(c.target in can_end for c in node.choices):
                    can_end.add(node.id)
                    changed = True
        if not can_end & reachable:
            self.error(
                nodes[0].line, f'Dialogen "{did}" har inget slut (en nod utan svarsalternativ).'
            )
            return False
        for node in nodes:
            if node.id in reachable and node.id not in can_end:
                self.error(
                    node.line,
                    f'Från noden "{node.id}" i dialogen "{did}" finns ingen väg till ett slut.',
                )
                ok = False
        return ok

    # -- glossary ---------------------------------------------------------------------
    def _glossary(self, group: Group, line: int) -> Glossary | None:
        body = groups(group[1:-1])
        if len(body) != 1 or body[0][0].type != "dl_open":
            self.error(
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
            term_line = self.line_of(g[0], line)
            if dd is None:
                self.error(term_line, "Ordet i ordlistan saknar förklaring.")
                return None
            terms.append(
                GlossaryTerm(
                    self.renderer.render_inline(g[1]),
                    inline_text(g[1]).strip(),
                    self.renderer.render(dd[1:-1]),
                    term_line,
                )
            )
        return Glossary(tuple(terms), line)

    # -- whole-module checks ----------------------------------------------------------
    def _sections(self, blocks: list[Block]) -> list[Block]:
        """Each graded question's ``avsnitt=`` names a heading of this module: add its text."""
        headings = self.renderer.headings
        out: list[Block] = []
        for block in blocks:
            if isinstance(block, Question) and block.section_id:
                if block.section_id not in headings:
                    known = ", ".join(headings) or "inga"
                    self.error(
                        block.line,
                        f'Frågan "{block.id}" pekar på avsnittet "{block.section_id}", som inte '
                        f"finns. Rubrikernas id i modulen: {known}.",
                    )
                else:
                    block = replace(block, section=headings[block.section_id])
            out.append(block)
        return out

    def _check_module(self, blocks: list[Block]) -> None:
        glossary = [t for b in blocks if isinstance(b, Glossary) for t in b.terms]
        known = {t.term_text.casefold() for t in glossary}
        seen: set[str] = set()
        for term in glossary:
            key = term.term_text.casefold()
            if key in seen:
                self.error(term.line, f'Ordet "{term.term_text}" står två gånger i ordlistan.')
            seen.add(key)
        for text, line in self.term_refs:
            if text.casefold() not in known:
                self.error(
                    line,
                    f'"{text}" är märkt som ordlisteord men finns inte i ordlistan. Lägg till '
                    "det i ::: ordlista eller ta bort {.term}.",
                )


def parse_module(text: str, path: str, module_dir: Path | None = None) -> Module:
    """Parse ``text`` (the content of ``path``); raises :class:`ModuleError` on problems."""
    parser = ModuleParser(text, path, module_dir)
    module = parser.parse()
    if module is None:
        raise ModuleError(parser.diagnostics)
    return module


def load_module(module_dir: Path, display_root: Path | None = None) -> Module:
    """Load ``module_dir/module.md``; file names in errors are relative to ``display_root``."""
    path = module_dir / "module.md"
    shown = str(path)
    if display_root is not None and path.is_relative_to(display_root):
        shown = str(path.relative_to(display_root))
    if not path.is_file():
        raise ModuleError([Diagnostic(shown, 1, "Filen module.md saknas i modulens mapp.")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ModuleError(
            [Diagnostic(shown, line, "Filen är inte sparad som UTF-8. Spara om den som UTF-8.")]
        ) from None
    return parse_module(text, shown, module_dir)
