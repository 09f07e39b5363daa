"""Question pools: which graded questions each pre-built variant of a module version asks.

A module may hold more graded questions than an attempt asks (``kunskapskontroll: frågor:``
in the front matter). The build draws a few *variants* per module version, each a real
nbgrader assignment named ``<module>-v<version>-<letter>`` (``kasam-v1-a``, ``kasam-v1-b``,
…), so nbgrader grades every attempt and keeps the gradebook. A new attempt is given a
variant the learner has not failed.

The draw is deterministic (seeded by module, version and variant): building the same
module version twice gives the same variants. Within each draw group (``urval:``) the
questions are dealt out round after round, so that as many variants as the pool allows
ask different questions, and every pool question is asked by some variant.
"""

from __future__ import annotations

import random
import re

from omsorgslyft.model import Module, Question

LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NAME = re.compile(r"^(?P<module>[a-z][a-z0-9-]*?)-v(?P<version>[0-9]+)-(?P<letter>[a-z])$")


def variant_name(module_id: str, version: int, letter: str) -> str:
    """The nbgrader assignment of one variant: ``kasam-v1-b``."""
    return f"{module_id}-v{version}-{letter}"


def parse_variant_name(name: str) -> tuple[str, int, str] | None:
    """``kasam-v1-b`` -> ``("kasam", 1, "b")``; None for a name that is not a variant."""
    found = _NAME.match(name)
    if found is None:
        return None
    return found["module"], int(found["version"]), found["letter"]


def module_of(assignment: str) -> str:
    """The module an nbgrader assignment belongs to (the assignment itself if not a variant)."""
    parsed = parse_variant_name(assignment)
    return parsed[0] if parsed else assignment


def _deal(questions: list[Question], n: int, rounds: int, rng: random.Random) -> list[list[str]]:
    """``rounds`` hands of ``n`` question ids each, dealt from a shuffled deck that is
    reshuffled when it runs out; no hand holds a question twice."""
    hands: list[list[str]] = []
    deck: list[str] = []
    for _ in range(rounds):
        hand: list[str] = []
        while len(hand) < n:
            if not deck:
                deck = [q.id for q in questions]
                rng.shuffle(deck)
            pick = next((i for i, q in enumerate(deck) if q not in hand), None)
            if pick is None:  # the deck's rest is all in this hand already
                deck = []
                continue
            hand.append(deck.pop(pick))
        hands.append(hand)
    return hands


def draw_variants(module: Module) -> dict[str, tuple[str, ...]]:
    """Variant letter -> the ids of the questions it asks, in the module's order.

    A module that asks every question has one variant, ``a``.
    """
    pool = list(module.graded_questions)
    rules = module.check
    if not rules.asked or rules.asked >= len(pool):
        return {"a": tuple(q.id for q in pool)}
    rng = random.Random(f"{module.id}/{module.version}")
    count = max(1, min(rules.variants, len(LETTERS)))
    chosen: list[set[str]] = [set() for _ in range(count)]
    grouped = dict(rules.groups)
    rest = [q for q in pool if q.group not in grouped]
    for name, n in rules.groups:
        members = [q for q in pool if q.group == name]
        for hand, ids in zip(chosen, _deal(members, n, count, rng), strict=True):
            hand.update(ids)
    left = rules.asked - sum(grouped.values())
    if left > 0:
        for hand, ids in zip(chosen, _deal(rest, left, count, rng), strict=True):
            hand.update(ids)
    order = {q.id: i for i, q in enumerate(pool)}
    return {LETTERS[i]: tuple(sorted(hand, key=order.__getitem__)) for i, hand in enumerate(chosen)}
