"""What every part of the module parser shares: the problems found so far and the tokens.

One :class:`ParseContext` is made per file; the inline checks and each block parser in
:mod:`omsorgslyft.authoring.blocks` receive it, report through :meth:`ParseContext.error`
and record the block ids and ``{.term}`` references the whole-module checks need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.token import Token

from omsorgslyft.authoring.diagnostics import Diagnostic
from omsorgslyft.authoring.markdown import Renderer

Group = list[Token]


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


@dataclass
class ParseContext:
    """The state of parsing one file; ``diagnostics`` collects every problem found."""

    path: str
    lines: list[str]
    module_dir: Path | None
    renderer: Renderer
    module_id: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    block_ids: set[str] = field(default_factory=set)
    term_refs: list[tuple[str, int]] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, line, message))

    @staticmethod
    def line_of(token: Token, default: int = 1) -> int:
        return token.map[0] + 1 if token.map else default
