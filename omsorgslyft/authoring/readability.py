"""LIX readability (läsbarhetsindex) of a module's prose.

LIX = words / sentences + 100 * long words / words, where a long word has more than six
letters. Counted over what the learner reads as running text: prose, questions, options,
dialogue and reflection prompts. Quotes, feedback and explanations (the ``>`` lines) and
the glossary are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from omsorgslyft.model import Dialogue, Module, Prose, Question, Reflection

SENTENCE_END = frozenset(".!?:")
BLOCK_TAGS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "td", "th"})


@dataclass(frozen=True)
class Readability:
    words: int
    sentences: int
    long_words: int

    @property
    def lix(self) -> float:
        if not self.words:
            return 0.0
        return self.words / max(self.sentences, 1) + 100 * self.long_words / self.words


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.segments: list[str] = [""]
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            self.skip += 1
        elif tag in BLOCK_TAGS:
            self.segments.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self.skip -= 1
        elif tag in BLOCK_TAGS:
            self.segments.append("")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.segments[-1] += data


def count(html_parts: list[str]) -> Readability:
    collector = _TextCollector()
    for part in html_parts:
        collector.feed(part)
        collector.segments.append("")
    words = sentences = long_words = 0
    for segment in collector.segments:
        open_sentence = False
        for raw in segment.split():
            word = "".join(ch for ch in raw if ch.isalpha())
            if word:
                words += 1
                open_sentence = True
                if len(word) > 6:
                    long_words += 1
            if raw[-1] in SENTENCE_END and open_sentence:
                sentences += 1
                open_sentence = False
        if open_sentence:  # a heading, list item or paragraph ends a sentence too
            sentences += 1
    return Readability(words, sentences, long_words)


def module_readability(module: Module) -> Readability:
    parts: list[str] = []
    for block in module.blocks:
        if isinstance(block, Prose):
            parts.append(block.html)
        elif isinstance(block, Question):
            parts.append(block.prompt_html)
            parts.extend(f"<p>{o.html}</p>" for o in (*block.options, *block.items))
            parts.extend(f"<p>{p.left_html}</p><p>{p.right_html}</p>" for p in block.pairs)
        elif isinstance(block, Dialogue):
            parts.append(block.intro_html)
            for node in block.nodes:
                parts.append(node.html)
                parts.extend(f"<p>{c.html}</p>" for c in node.choices)
        elif isinstance(block, Reflection):
            parts.append(block.prompt_html)
    return count(parts)
