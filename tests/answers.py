"""Right and wrong answers for a module's knowledge check (test helper)."""

from __future__ import annotations

from omsorgslyft.model import Module, QuestionKind


def right_answers(module: Module) -> dict[str, object]:
    return {q.id: q.correct_answer() for q in module.graded_questions}


def wrong_answers(module: Module) -> dict[str, object]:
    wrong: dict[str, object] = {}
    for q in module.graded_questions:
        if q.kind in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE):
            wrong[q.id] = next(o.id for o in q.options if not o.correct)
        elif q.kind is QuestionKind.MULTIPLE:
            wrong[q.id] = sorted(o.id for o in q.options if not o.correct)
        elif q.kind is QuestionKind.ORDERING:
            wrong[q.id] = [i.id for i in reversed(q.items)]
        else:
            rights = [p.right_id for p in q.pairs]
            wrong[q.id] = {p.left_id: rights[(i + 1) % len(rights)] for i, p in enumerate(q.pairs)}
    return wrong
