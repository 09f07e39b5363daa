"""What a graded attempt records, and what the learner may see of it.

The recorded result (the submission log) holds per asked question its points, whether it
was right and answered, and the section it belongs to; explanations and option feedback
only in a passed attempt, and only if the module shows them after a pass. What a learner
gets (:func:`learner_view`) follows the module's review rules: after a failed attempt
never the right option or an explanation, only the score and, by default, which
questions were wrong and the section to read again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omsorgslyft.grading.course import GradeResult
from omsorgslyft.model import FailReview, Module, PassReview, QuestionKind

#: the keys of a question's entry that a failed attempt may show
FAILED_KEYS = ("id", "points", "max_points", "correct", "answered", "section", "section_id")


def _feedback(question: Any, chosen: Any) -> str:
    if question.kind not in (QuestionKind.SINGLE, QuestionKind.TRUE_FALSE, QuestionKind.MULTIPLE):
        return ""
    chosen_ids = chosen if isinstance(chosen, list) else [chosen]
    return "".join(o.feedback_html for o in question.options if o.id in chosen_ids)


def build_result(
    module: Module,
    submission_id: str,
    variant: str,
    asked: list[str],
    answers: dict[str, Any],
    graded: GradeResult,
) -> dict[str, Any]:
    points = {q.question_id: q for q in graded.questions}
    by_id = {q.id: q for q in module.graded_questions}
    percent = graded.percent()
    passed = percent >= module.pass_mark
    explain = passed and module.check.after_pass is PassReview.EXPLANATIONS
    questions = []
    for qid in asked:
        q, got = by_id[qid], points[qid]
        chosen = answers.get(qid)
        entry: dict[str, Any] = {
            "id": qid,
            "points": got.points,
            "max_points": got.max_points,
            "correct": got.points >= got.max_points,
            "answered": chosen not in (None, [], {}),
            "section": q.section,
            "section_id": q.section_id,
        }
        if explain:
            entry |= {
                "prompt": q.prompt_html,
                "feedback": _feedback(q, chosen),
                "explanation": q.explanation_html,
            }
        questions.append(entry)
    return {
        "submission_id": submission_id,
        "module": module.id,
        "version": module.version,
        "variant": variant,
        "title": module.title,
        "score": graded.score,
        "max_score": graded.max_score,
        "percent": round(percent, 1),
        "pass_mark": module.pass_mark,
        "passed": passed,
        "validity_months": module.validity_months,
        "graded_at": datetime.now(UTC).isoformat(),
        "review": (module.check.after_pass if passed else module.check.after_fail).value,
        "questions": questions,
    }


def learner_view(result: dict[str, Any] | None, module: Module | None) -> dict[str, Any] | None:
    """The part of a recorded result the learner's page may receive."""
    if not result or "questions" not in result:
        return result
    if result.get("passed"):
        return result
    rule = module.check.after_fail if module is not None else FailReview.SECTIONS
    questions = (
        []
        if rule is FailReview.SCORE
        else [{k: q[k] for k in FAILED_KEYS if k in q} for q in result["questions"]]
    )
    return {**result, "questions": questions, "review": rule.value}
