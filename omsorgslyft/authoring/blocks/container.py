"""``:::`` containers: the block name, its ``{#id ...}`` attributes and the module's ids."""

from __future__ import annotations

from mdit_py_plugins.attrs.parse import ParseError
from mdit_py_plugins.attrs.parse import parse as parse_attrs

from omsorgslyft.authoring.context import Group, ParseContext
from omsorgslyft.authoring.frontmatter import is_valid_id
from omsorgslyft.model import QuestionKind

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


def container(ctx: ParseContext, group: Group) -> tuple[str, dict[str, str]] | None:
    """Name and attributes of a ``:::`` container, or None after reporting a problem."""
    opener = group[0]
    line = ctx.line_of(opener)
    _, end = opener.map or (0, 0)
    # markdown-it's map ends before the closing fence; an unclosed block has none
    closing = ctx.lines[end].strip() if end < len(ctx.lines) else ""
    name, _, rest = opener.info.strip().partition(" ")
    if not name:
        ctx.error(
            line,
            f"En rad med {opener.markup} står utan att något block börjar där. Kanske stängdes "
            "ett block för tidigt: ett block som står inuti ett annat behöver färre kolon än "
            "det yttre.",
        )
        return None
    if not closing.startswith(":::") or closing.strip(":"):
        ctx.error(
            line,
            f'Blocket "{name}" stängs aldrig. Lägg till en rad med {opener.markup} '
            "där blocket slutar.",
        )
        return None
    rest = rest.strip()
    attrs: dict[str, str] = {}
    if rest:
        if not (rest.startswith("{") and rest.endswith("}")):
            ctx.error(line, f'Efter blocknamnet "{name}" kan bara {{#id}} och inställningar stå.')
            return None
        try:
            consumed, parsed = parse_attrs(rest)
        except ParseError as exc:
            ctx.error(line, f'Inställningarna för "{name}" går inte att läsa: {exc}.')
            return None
        if consumed != len(rest) - 1:
            ctx.error(line, f'Inställningarna för "{name}" går inte att läsa.')
            return None
        attrs = {str(k): str(v) for k, v in parsed.items()}
    if name not in ALLOWED_ATTRS:
        hint = ", ".join(BLOCK_NAMES)
        ctx.error(line, f'Okänt block "{name}". Kända block: {hint}.')
        return None
    unknown = sorted(set(attrs) - ALLOWED_ATTRS[name])
    if "class" in unknown:
        unknown.remove("class")
        ctx.error(line, f'Blocket "{name}" har en okänd klass. Klasser används inte på block.')
    if unknown:
        ctx.error(line, f'Blocket "{name}" har okänd inställning: {", ".join(unknown)}.')
    return name, attrs


def new_block_id(ctx: ParseContext, name: str, attrs: dict[str, str], line: int) -> str | None:
    block_id = attrs.get("id")
    if not block_id:
        ctx.error(line, f'Blocket "{name}" behöver ett id, till exempel {{#{name}-1}}.')
        return None
    if not is_valid_id(block_id):
        ctx.error(
            line,
            f'Id:t "{block_id}" får bara innehålla små bokstäver a–z, siffror och bindestreck.',
        )
        return None
    if block_id in ctx.block_ids:
        ctx.error(
            line, f'Id:t "{block_id}" finns redan i modulen. Varje block behöver ett eget id.'
        )
        return None
    ctx.block_ids.add(block_id)
    return block_id
