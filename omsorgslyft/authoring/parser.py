"""Parse and validate one module file.

The walk is over markdown-it-py tokens: ``:::`` containers become blocks, definition lists
become pairs and glossary terms, links in dialogue nodes become branches. Every problem is
collected with its line, so a trainer sees all of them at once.

This module walks the file and holds the knowledge check; the inline checks are in
:mod:`~omsorgslyft.authoring.inline` and each block kind has its module in
:mod:`~omsorgslyft.authoring.blocks`, all sharing one
:class:`~omsorgslyft.authoring.context.ParseContext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from markdown_it.token import Token

from omsorgslyft.authoring.blocks.container import (
    ALLOWED_ATTRS,
    BLOCK_NAMES,
    QUESTION_BLOCKS,
    container,
    new_block_id,
)
from omsorgslyft.authoring.blocks.dialogue import dialogue
from omsorgslyft.authoring.blocks.glossary import check_terms, glossary
from omsorgslyft.authoring.blocks.questions import question
from omsorgslyft.authoring.checkrules import check_pool, parse_check_rules
from omsorgslyft.authoring.context import Group, ParseContext, groups, option_id
from omsorgslyft.authoring.diagnostics import Diagnostic, ModuleError
from omsorgslyft.authoring.frontmatter import FrontMatter, parse_front_matter
from omsorgslyft.authoring.inline import check_inline
from omsorgslyft.authoring.markdown import Renderer, make_parser
from omsorgslyft.model import Block, CheckRules, Module, Prose, Question, Reflection

__all__ = [
    "ALLOWED_ATTRS",
    "BLOCK_NAMES",
    "QUESTION_BLOCKS",
    "Group",
    "ModuleParser",
    "groups",
    "load_module",
    "option_id",
    "parse_module",
]


class ModuleParser:
    """Parses one file; ``diagnostics`` collects every problem found."""

    def __init__(self, text: str, path: str, module_dir: Path | None = None) -> None:
        self.text = text
        self.path = path
        self.lines = text.splitlines()
        self.module_dir = module_dir
        self.md = make_parser()
        self.renderer = Renderer(self.md, module_dir)
        self.ctx = ParseContext(path, self.lines, module_dir, self.renderer)
        self.diagnostics = self.ctx.diagnostics

    # -- reporting --------------------------------------------------------------------
    def error(self, line: int, message: str) -> None:
        self.ctx.error(line, message)

    line_of = staticmethod(ParseContext.line_of)

    # -- entry point ------------------------------------------------------------------
    def parse(self) -> Module | None:
        tokens = self.md.parse(self.text)
        front: FrontMatter | None = None
        if not tokens or tokens[0].type != "front_matter":
            self.error(1, "Filen ska börja med uppgifter om modulen mellan två rader med ---.")
        else:
            front = parse_front_matter(tokens[0].content, 2, self.error)
            if front is not None:
                self.ctx.module_id = front.id
                self._check_folder(front)
            tokens = tokens[1:]
        check_inline(self.ctx, tokens)
        blocks = self._top_level(tokens)
        check_terms(self.ctx, blocks)
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
            found = container(self.ctx, group)
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
            found = container(self.ctx, inner)
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
            return glossary(self.ctx, group, line)
        block_id = new_block_id(self.ctx, name, attrs, line)
        if block_id is None:
            return None
        if name == "reflektion":
            body = group[1:-1]
            if not body:
                self.error(line, f'Reflektionen "{block_id}" saknar en fråga att reflektera över.')
                return None
            return Reflection(block_id, self.renderer.render(body), line)
        if name == "dialog":
            return dialogue(self.ctx, block_id, group, line)
        return question(self.ctx, QUESTION_BLOCKS[name], block_id, attrs, group, line, graded)

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
