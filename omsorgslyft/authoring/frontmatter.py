"""Front matter: YAML between ``---`` lines, validated field by field with line numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from omsorgslyft.model import Source

ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def is_valid_id(value: str) -> bool:
    """Lowercase ASCII letters, digits and hyphens, starting with a letter."""
    return bool(value) and value[0].isascii() and value[0].isalpha() and set(value) <= ID_CHARS


@dataclass(frozen=True)
class FrontMatter:
    id: str
    title: str
    version: int
    language: str
    minutes: int
    pass_mark: int
    validity_months: int
    competences: tuple[str, ...]
    objectives: tuple[str, ...]
    sources: tuple[Source, ...]
    summary: str
    audience: tuple[str, ...]
    #: the ``kunskapskontroll`` field as written and its line (``checkrules`` reads it)
    check_raw: Any = None
    check_line: int = 0


Report = Callable[[int, str], None]


def _int_in(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"ska vara ett heltal mellan {low} och {high}"
        if not low <= value <= high:
            return f"ska vara mellan {low} och {high}, inte {value}"
        return None

    return check


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "ska vara en text"
    return None


def _text_list(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "ska vara en lista med minst en rad"
    if not all(isinstance(v, str) and v.strip() for v in value):
        return "ska vara en lista med texter"
    return None


def _language(value: Any) -> str | None:
    return None if value == "sv" else 'ska vara "sv" (svenska)'


def _module_id(value: Any) -> str | None:
    if not isinstance(value, str) or not is_valid_id(value):
        return "får bara innehålla små bokstäver a–z, siffror och bindestreck"
    return None


# key -> (required, check, english field name)
FIELDS: dict[str, tuple[bool, Callable[[Any], str | None]]] = {
    "id": (True, _module_id),
    "titel": (True, _text),
    "version": (True, _int_in(1, 10_000)),
    "språk": (True, _language),
    "minuter": (True, _int_in(1, 240)),
    "godkänd": (True, _int_in(1, 100)),
    "giltighet": (True, _int_in(1, 120)),
    "kompetenser": (True, _text_list),
    "lärandemål": (True, _text_list),
    "källor": (True, lambda v: None),  # checked item by item below
    "sammanfattning": (False, _text),
    "målgrupp": (False, _text_list),
    "kunskapskontroll": (False, lambda v: None),  # checked by checkrules.parse_check_rules
}
SOURCE_FIELDS = {"id", "titel", "utgivare", "år", "url"}


def parse_front_matter(text: str, first_line: int, report: Report) -> FrontMatter | None:
    """Validate the YAML ``text`` whose first line is file line ``first_line``.

    Every problem is passed to ``report(line, message)``; returns ``None`` if any was found.
    """
    errors_before = _Counter(report)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or "okänt fel"
        report(line, f"Början av filen (front matter) är inte giltig YAML: {problem}.")
        return None
    if not isinstance(root, yaml.MappingNode):
        report(first_line, "Början av filen ska vara fält på formen `namn: värde`.")
        return None

    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in root.value:
        key = key_node.value
        line = first_line + key_node.start_mark.line
        if key not in FIELDS:
            known = ", ".join(FIELDS)
            errors_before.report(
                line, f'Okänt fält "{key}" i början av filen. Kända fält: {known}.'
            )
            continue
        if key in values:
            errors_before.report(line, f'Fältet "{key}" står två gånger.')
            continue
        values[key] = yaml.safe_load(yaml.serialize(value_node))
        lines[key] = line

    for key, (required, check) in FIELDS.items():
        if key not in values:
            if required:
                errors_before.report(first_line, f'Fältet "{key}" saknas i början av filen.')
            continue
        problem = check(values[key])
        if problem:
            errors_before.report(lines[key], f'Fältet "{key}" {problem}.')

    sources = _sources(values.get("källor"), lines.get("källor", first_line), errors_before)
    if errors_before.count:
        return None
    return FrontMatter(
        id=values["id"],
        title=values["titel"].strip(),
        version=values["version"],
        language=values["språk"],
        minutes=values["minuter"],
        pass_mark=values["godkänd"],
        validity_months=values["giltighet"],
        competences=tuple(values["kompetenser"]),
        objectives=tuple(values["lärandemål"]),
        sources=sources,
        summary=values.get("sammanfattning", "").strip(),
        audience=tuple(values.get("målgrupp", ())),
        check_raw=values.get("kunskapskontroll"),
        check_line=lines.get("kunskapskontroll", first_line),
    )


def _sources(raw: Any, line: int, counter: _Counter) -> tuple[Source, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        counter.report(line, 'Fältet "källor" ska vara en lista med minst en källa.')
        return ()
    result: list[Source] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        where = f"Källa nummer {index}"
        if not isinstance(item, dict):
            counter.report(line, f"{where} ska ha fälten id och titel.")
            continue
        unknown = set(item) - SOURCE_FIELDS
        if unknown:
            counter.report(
                line, f"{where} har okända fält: {', '.join(sorted(map(str, unknown)))}."
            )
        sid, title = item.get("id"), item.get("titel")
        if not isinstance(sid, str) or not sid.strip():
            counter.report(line, f"{where} saknar id.")
            continue
        if not isinstance(title, str) or not title.strip():
            counter.report(line, f'{where} ("{sid}") saknar titel.')
            continue
        if sid in seen:
            counter.report(line, f'Källan "{sid}" står två gånger.')
        seen.add(sid)
        url = str(item.get("url") or "")
        if url and not url.startswith(("https://", "http://")):
            counter.report(line, f'Källan "{sid}" har en adress som inte börjar med https://.')
        result.append(
            Source(
                id=sid,
                title=title.strip(),
                url=url,
                publisher=str(item.get("utgivare") or ""),
                year=str(item.get("år") or ""),
            )
        )
    return tuple(result)


class _Counter:
    """Wraps a report callback and counts what passed through it."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self.count = 0

    def report(self, line: int, message: str) -> None:
        self.count += 1
        self._report(line, message)
