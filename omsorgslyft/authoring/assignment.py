"""Compile one variant of a module's knowledge check into an nbgrader *source* notebook.

Each variant (:func:`omsorgslyft.authoring.draws.draw_variants`) is its own nbgrader
assignment, ``<module>-v<version>-<letter>``. Its notebook holds one *autograded answer*
cell whose solution region holds the correct answers, and for every question the variant
asks a read-only cell with the question (for formgrader) and an *autograder tests* cell
whose assertion is a hidden test. ``nbgrader generate_assignment`` removes the solution regions
(leaving a harmless ``pass``) and the hidden tests; the release notebook is what a
submission's answers are filled into (:func:`omsorgslyft.grading.course.fill_answers`).
The page learners open never contains any of this.
"""

from __future__ import annotations

from typing import Any

from nbformat import NotebookNode

from omsorgslyft.authoring.draws import draw_variants, variant_name
from omsorgslyft.authoring.notebook import (
    ANSWERS,
    ANSWERS_START,
    answer_cell_source,
    answer_schema,
    code_cell,
    markdown_cell,
    new_notebook,
)
from omsorgslyft.model import Module, Question, QuestionKind


def test_source(question: Question) -> str:
    expected = question.correct_answer()
    got = f"{ANSWERS}.get({question.id!r})"
    if question.kind is QuestionKind.MULTIPLE:
        got = f"sorted({got} or [])"
    return f"assert {got} == {expected!r}, 'Fel svar'"


def assignment_metadata(module: Module, letter: str, asked: list[str]) -> dict[str, Any]:
    schema = answer_schema(module)
    return {
        "module": module.id,
        "version": module.version,
        "title": module.title,
        "pass_mark": module.pass_mark,
        "validity_months": module.validity_months,
        "variant": letter,
        "assignment": variant_name(module.id, module.version, letter),
        "questions": asked,
        "blocks": {qid: schema[qid] for qid in asked},
    }


def build_assignment_notebook(module: Module, letter: str) -> NotebookNode:
    """The nbgrader source notebook of variant ``letter`` (contains the answer key).

    One *autograded answer* cell holds every answer (``svar``), then one *autograder
    tests* cell per question (its points), each after a read-only cell with the question
    for formgrader: a submission runs one answer cell and one test per question.
    """
    asked = list(draw_variants(module)[letter])
    questions = {q.id: q for q in module.graded_questions}
    nb = new_notebook(assignment_metadata(module, letter, asked))
    key = "\n".join(answer_cell_source(q, questions[q].correct_answer()) for q in asked)
    nb.cells.append(
        code_cell(
            f"{ANSWERS_START}\n### BEGIN SOLUTION\n{key}\n### END SOLUTION",
            "svar",
            locked=False,
            solution=True,
        )
    )
    for n, qid in enumerate(asked, start=1):
        q = questions[qid]
        nb.cells.append(
            markdown_cell(f"<h2>Fråga {n} ({q.id})</h2>{q.prompt_html}", f"fraga-{q.id}")
        )
        nb.cells.append(
            code_cell(
                "# Rättas när du lämnar in.\n### BEGIN HIDDEN TESTS\n"
                f"{test_source(q)}\n### END HIDDEN TESTS",
                f"test-{q.id}",
                points=q.points,
            )
        )
    return nb
