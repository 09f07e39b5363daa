"""Validate a saved answer against a module's answer schema before anything is written."""

from __future__ import annotations

from typing import Any

#: what a saved entry is: a graded answer, an exercise answer, a dialogue path, a reflection
KINDS = ("svar", "ovning", "dialog", "reflektion")
MAX_REFLECTION_CHARS = 10_000


class InvalidAnswer(ValueError):
    """The payload does not fit the block it claims to answer."""


def _ids(value: Any, allowed: set[str]) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v in allowed for v in value)


def validate_answer(schema: dict[str, dict[str, Any]], kind: str, key: str, value: Any) -> Any:
    """Return ``value`` if it is a possible answer for block ``key``; raise InvalidAnswer."""
    block = schema.get(key)
    if block is None:
        raise InvalidAnswer(f"okänt block {key!r}")
    if block["kind"] != kind:
        raise InvalidAnswer(f"blocket {key!r} tar inte emot {kind!r}")
    if kind == "reflektion":
        if not isinstance(value, str) or len(value) > MAX_REFLECTION_CHARS:
            raise InvalidAnswer(f"en reflektion är text på högst {MAX_REFLECTION_CHARS} tecken")
        return value
    if value is None:
        return None
    if kind == "dialog":
        if not _ids(value, set(block["ids"])) or not 1 <= len(value) <= 200:
            raise InvalidAnswer("ogiltig väg genom dialogen")
        return value
    qtype = block["type"]
    if qtype in ("enkelval", "sant-falskt"):
        if not (isinstance(value, str) and value in block["ids"]):
            raise InvalidAnswer("ogiltigt alternativ")
    elif qtype == "flerval":
        if not _ids(value, set(block["ids"])) or len(set(value)) != len(value):
            raise InvalidAnswer("ogiltiga alternativ")
    elif qtype == "ordning":
        if not _ids(value, set(block["ids"])) or sorted(value) != sorted(block["ids"]):
            raise InvalidAnswer("ogiltig ordning")
    elif qtype == "para":
        if not (
            isinstance(value, dict)
            and set(value) <= set(block["left"])
            and all(isinstance(v, str) and v in block["right"] for v in value.values())
        ):
            raise InvalidAnswer("ogiltiga par")
    else:
        raise InvalidAnswer(f"okänd frågetyp {qtype!r}")
    return value
