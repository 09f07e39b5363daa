"""The domain model of a training module: frozen dataclasses, no I/O.

A :class:`Module` is what a trainer's ``module.md`` means once it has been parsed and
validated. Everything downstream (the nbgrader notebook, the learner runtime, grading and
competence records) works from this model, never from the Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class QuestionKind(StrEnum):
    """The question block kinds a module can contain (their Markdown names are Swedish)."""

    SINGLE = "enkelval"
    MULTIPLE = "flerval"
    TRUE_FALSE = "sant-falskt"
    ORDERING = "ordning"
    MATCHING = "para"


@dataclass(frozen=True)
class Source:
    """A source the module's facts rest on."""

    id: str
    title: str
    url: str = ""
    publisher: str = ""
    year: str = ""


@dataclass(frozen=True)
class Option:
    """One answer option. ``id`` is opaque and stable (derived from the text)."""

    id: str
    html: str
    correct: bool = False
    feedback_html: str = ""


@dataclass(frozen=True)
class Pair:
    """One matching pair: ``left`` goes with ``right``."""

    left_id: str
    left_html: str
    right_id: str
    right_html: str


@dataclass(frozen=True)
class Question:
    """A question. ``graded`` questions form the knowledge check; the rest are exercises.

    Only the fields relevant to ``kind`` are filled: ``options`` for choice and
    true/false questions, ``items`` (in the correct order) for ordering, ``pairs`` for
    matching.
    """

    id: str
    kind: QuestionKind
    prompt_html: str
    line: int
    graded: bool
    points: int = 1
    options: tuple[Option, ...] = ()
    items: tuple[Option, ...] = ()
    pairs: tuple[Pair, ...] = ()
    explanation_html: str = ""
    #: the heading (its id and text) a learner who got this wrong should read again
    section_id: str = ""
    section: str = ""
    #: the draw group (``urval`` in the front matter) this pool question belongs to
    group: str = ""

    def correct_answer(self) -> str | list[str] | dict[str, str]:
        """The answer that earns full points, in the shape the learner runtime stores."""
        if self.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE):
            return next(o.id for o in self.options if o.correct)
        if self.kind is QuestionKind.MULTIPLE:
            return sorted(o.id for o in self.options if o.correct)
        if self.kind is QuestionKind.ORDERING:
            return [item.id for item in self.items]
        return {p.left_id: p.right_id for p in self.pairs}


@dataclass(frozen=True)
class DialogueChoice:
    """Something the learner can say, where it leads and how it lands."""

    html: str
    target: str
    feedback_html: str = ""


@dataclass(frozen=True)
class DialogueNode:
    """One moment of a dialogue scenario: what happens, and what the learner may say."""

    id: str
    html: str
    line: int
    choices: tuple[DialogueChoice, ...] = ()

    @property
    def is_end(self) -> bool:
        return not self.choices


@dataclass(frozen=True)
class Dialogue:
    """A branching dialogue scenario (an exercise, never graded). Starts at ``nodes[0]``."""

    id: str
    intro_html: str
    line: int
    nodes: tuple[DialogueNode, ...]


@dataclass(frozen=True)
class Reflection:
    """A private reflection: free text that stays with the learner."""

    id: str
    prompt_html: str
    line: int


@dataclass(frozen=True)
class GlossaryTerm:
    term_html: str
    term_text: str
    definition_html: str
    line: int


@dataclass(frozen=True)
class Glossary:
    terms: tuple[GlossaryTerm, ...]
    line: int


@dataclass(frozen=True)
class Prose:
    """Read-only text (already rendered to safe HTML)."""

    html: str
    line: int


Block = Prose | Question | Dialogue | Reflection | Glossary


class FailReview(StrEnum):
    """What a learner sees after a failed attempt (never the right option)."""

    SECTIONS = "avsnitt"  # the score, which questions were wrong and the section to reread
    SCORE = "poäng"  # the score only


class PassReview(StrEnum):
    """What a learner sees after a pass."""

    EXPLANATIONS = "förklaringar"  # every asked question's explanation and feedback
    SCORE = "poäng"


@dataclass(frozen=True)
class CheckRules:
    """How the knowledge check is drawn and reviewed (``kunskapskontroll:`` in the front
    matter). ``asked`` 0 means every graded question, in every attempt."""

    asked: int = 0
    groups: tuple[tuple[str, int], ...] = ()
    variants: int = 4
    attempts_per_day: int = 3
    after_fail: FailReview = FailReview.SECTIONS
    after_pass: PassReview = PassReview.EXPLANATIONS


@dataclass(frozen=True)
class Module:
    """A validated training module."""

    id: str
    title: str
    version: int
    language: str
    minutes: int
    pass_mark: int
    validity_months: int
    competences: tuple[str, ...]
    sources: tuple[Source, ...]
    objectives: tuple[str, ...]
    blocks: tuple[Block, ...]
    path: str = ""
    summary: str = ""
    audience: tuple[str, ...] = field(default=())
    check: CheckRules = field(default=CheckRules())

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Question))

    @property
    def graded_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.graded)

    @property
    def exercises(self) -> tuple[Question | Dialogue, ...]:
        return tuple(
            b
            for b in self.blocks
            if (isinstance(b, Question) and not b.graded) or isinstance(b, Dialogue)
        )

    @property
    def max_points(self) -> int:
        return sum(q.points for q in self.graded_questions)

    @property
    def glossary(self) -> tuple[GlossaryTerm, ...]:
        return tuple(t for b in self.blocks if isinstance(b, Glossary) for t in b.terms)


class NewVersionRule(StrEnum):
    """What a new module version means for passes of an older version."""

    KEEP = "behåll"  # an older pass stays valid until it expires
    RETAKE = "gör om"  # everyone must pass the new version


@dataclass(frozen=True)
class Course:
    """Which roles or units need which modules, by when, and for how long a pass holds.

    Empty ``roles`` or ``units`` means every role or every unit.
    """

    id: str
    title: str
    description: str
    modules: tuple[str, ...]
    roles: tuple[str, ...]
    units: tuple[str, ...]
    due_days: int
    validity_months: int
    new_version: NewVersionRule
    path: str = ""

    def applies_to(self, role: str, unit: str) -> bool:
        role_ok = not self.roles or role.casefold() in {r.casefold() for r in self.roles}
        unit_ok = not self.units or unit.casefold() in {u.casefold() for u in self.units}
        return role_ok and unit_ok
