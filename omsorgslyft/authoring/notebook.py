"""Compile a :class:`Module` into an nbgrader *source* notebook.

Layout of the notebook:

* a locked setup cell that starts the widget runtime and defines ``svar`` (the answers);
* read-only Markdown cells for prose (already safe HTML) and the glossary;
* locked widget cells (code hidden) for exercises, dialogues, reflections and questions;
* for each graded question an *autograded answer* cell, whose solution region holds the
  correct answer, and an *autograder tests* cell whose assertion is a hidden test.

``nbgrader generate_assignment`` then removes the solution regions (leaving a harmless
``pass``) and the hidden tests, so the answer key exists only in the source notebook.
The widget specs of graded questions (:func:`learner_spec`) never hold correct answers,
feedback or explanations, and show ordering items and matching pairs shuffled.
"""

from __future__ import annotations

import random
import re
from typing import Any

import nbformat
from nbformat import NotebookNode

from omsorgslyft.authoring.markdown import escape, safe_href, slug
from omsorgslyft.model import (
    Block,
    Dialogue,
    Glossary,
    Module,
    Prose,
    Question,
    QuestionKind,
    Reflection,
)

SOLUTION_STUB = "pass"
ANSWERS = "svar"


def _shuffled(items: list[Any], seed: str) -> list[Any]:
    """A deterministic shuffle that never leaves a list of 2+ items in its original order."""
    out = list(items)
    random.Random(seed).shuffle(out)
    if len(out) > 1 and out == items:
        out = out[1:] + out[:1]
    return out


def learner_spec(module: Module, block: Question | Dialogue | Reflection) -> dict[str, Any]:
    """What the learner's page gets for one block. Graded questions carry no answer key."""
    if isinstance(block, Reflection):
        return {"type": "reflektion", "id": block.id, "prompt": block.prompt_html}
    if isinstance(block, Dialogue):
        return {
            "type": "dialog",
            "id": block.id,
            "intro": block.intro_html,
            "start": block.nodes[0].id,
            "nodes": {
                n.id: {
                    "html": n.html,
                    "choices": [
                        {"html": c.html, "target": c.target, "feedback": c.feedback_html}
                        for c in n.choices
                    ],
                }
                for n in block.nodes
            },
        }
    key = not block.graded
    seed = f"{module.id}/{block.id}/{module.version}"
    spec: dict[str, Any] = {
        "type": block.kind.value,
        "id": block.id,
        "prompt": block.prompt_html,
        "graded": block.graded,
        "points": block.points,
    }
    if block.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.TRUE_FALSE):
        spec["options"] = [
            {"id": o.id, "html": o.html}
            | ({"correct": o.correct, "feedback": o.feedback_html} if key else {})
            for o in block.options
        ]
    elif block.kind is QuestionKind.ORDERING:
        spec["items"] = _shuffled([{"id": i.id, "html": i.html} for i in block.items], seed)
    else:
        spec["left"] = [{"id": p.left_id, "html": p.left_html} for p in block.pairs]
        spec["right"] = _shuffled(
            [{"id": p.right_id, "html": p.right_html} for p in block.pairs], seed
        )
    if key:
        spec["answer"] = block.correct_answer()
        spec["explanation"] = block.explanation_html
    return spec


def answer_schema(module: Module) -> dict[str, dict[str, Any]]:
    """What a saved answer may look like, per block: ids only, no answer key."""
    schema: dict[str, dict[str, Any]] = {}
    for block in module.blocks:
        if isinstance(block, Reflection):
            schema[block.id] = {"kind": "reflektion"}
        elif isinstance(block, Dialogue):
            schema[block.id] = {"kind": "dialog", "ids": [n.id for n in block.nodes]}
        elif isinstance(block, Question):
            entry: dict[str, Any] = {
                "kind": "svar" if block.graded else "ovning",
                "type": block.kind.value,
            }
            if block.kind is QuestionKind.MATCHING:
                entry["left"] = sorted(p.left_id for p in block.pairs)
                entry["right"] = sorted(p.right_id for p in block.pairs)
            else:
                entry["ids"] = sorted(o.id for o in (*block.options, *block.items))
            schema[block.id] = entry
    return schema


def _meta(
    grade_id: str, *, locked: bool = True, solution: bool = False, points: int = 0
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": points > 0,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points:
        meta["points"] = points
    return meta


def _markdown(source: str, grade_id: str) -> NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = _meta(grade_id)
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def _code(source: str, grade_id: str, **kwargs: Any) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = _meta(grade_id, **kwargs)
    cell.metadata["jupyter"] = {"source_hidden": True}
    cell.metadata["tags"] = ["omsorgslyft"]
    if not kwargs.get("solution"):
        cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def answer_cell_source(question_id: str, answer: object) -> str:
    """The code of a filled answer cell. ``answer`` must already be validated data."""
    return f"{ANSWERS}[{question_id!r}] = {answer!r}"


def test_source(question: Question) -> str:
    expected = question.correct_answer()
    got = f"{ANSWERS}.get({question.id!r})"
    if question.kind is QuestionKind.MULTIPLE:
        got = f"sorted({got} or [])"
    return f"assert {got} == {expected!r}, 'Fel svar'"


def _header(module: Module) -> str:
    goals = "".join(f"<li>{escape(g)}</li>" for g in module.objectives)
    summary = f"<p>{escape(module.summary)}</p>" if module.summary else ""
    return (
        f'<header class="ol-header"><h1>{escape(module.title)}</h1>{summary}'
        f'<p class="ol-meta">Cirka {module.minutes} minuter · version {module.version}</p>'
        f"<h2>Efter modulen ska du kunna</h2><ul>{goals}</ul></header>"
    )


def _last_heading(html: str) -> str:
    """The text of the last heading in a prose block's HTML (our own compiler's output)."""
    found = re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", html, flags=re.S)
    return re.sub(r"<[^>]+>", "", found[-1]).strip().casefold() if found else ""


def _glossary(block: Glossary, titled: bool = True) -> str:
    """The glossary; without its own heading when the author's section is already named
    so (one heading per section)."""
    items = "".join(
        f'<dt id="ordlista-{slug(t.term_text)}">{t.term_html}</dt><dd>{t.definition_html}</dd>'
        for t in block.terms
    )
    if not titled:
        return f'<section class="ol-glossary" aria-label="Ordlista"><dl>{items}</dl></section>'
    return f'<section class="ol-glossary" aria-labelledby="ordlista"><h2 id="ordlista">Ordlista</h2><dl>{items}</dl></section>'


def _sources(module: Module) -> str:
    items = []
    for s in module.sources:
        title = escape(s.title)
        if s.url and safe_href(s.url):  # the front matter allows web addresses only
            title = (
                f'<a href="{escape(s.url)}" rel="noopener noreferrer" target="_blank">{title}</a>'
            )
        extra = ", ".join(escape(x) for x in (s.publisher, s.year) if x)
        items.append(f"<li>[{escape(s.id)}] {title}{', ' + extra if extra else ''}</li>")
    return f'<section class="ol-sources"><h2>Källor</h2><ul>{"".join(items)}</ul></section>'


def _check_intro(module: Module, titled: bool = True) -> str:
    return (
        ('<h2 id="kunskapskontroll">Kunskapskontroll</h2>' if titled else "")
        + f"<p>{len(module.graded_questions)} frågor, {module.max_points} poäng. "
        f"Du behöver {module.pass_mark} % rätt för att bli godkänd. "
        "Frågorna rättas när du trycker på <strong>Lämna in</strong>. "
        "Du ser resultatet direkt.</p>"
    )


def _run_info(module: Module) -> dict[str, Any]:
    return {
        "id": module.id,
        "title": module.title,
        "version": module.version,
        "pass_mark": module.pass_mark,
        "max_points": module.max_points,
        "questions": [q.id for q in module.graded_questions],
    }


def build_source_notebook(module: Module) -> NotebookNode:
    """The nbgrader source notebook for ``module`` (contains the answer key)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["omsorgslyft"] = {
        "module": module.id,
        "version": module.version,
        "title": module.title,
        "minutes": module.minutes,
        "pass_mark": module.pass_mark,
        "validity_months": module.validity_months,
        "summary": module.summary,
        "blocks": answer_schema(module),
    }
    cells = nb.cells
    cells.append(
        _code(
            f"import omsorgslyft.runtime as ol\n{ANSWERS} = {{}}\nol.start({_run_info(module)!r})",
            "start",
        )
    )
    cells.append(_markdown(_header(module), "rubrik"))
    check_started = False
    heading = ""  # the author's last heading, if prose came just before this block
    block: Block
    for n, block in enumerate(module.blocks, start=1):
        previous, heading = heading, ""
        if isinstance(block, Prose):
            cells.append(_markdown(block.html, f"text-{n}"))
            heading = _last_heading(block.html)
        elif isinstance(block, Glossary):
            cells.append(_markdown(_glossary(block, previous != "ordlista"), f"ordlista-{n}"))
        elif isinstance(block, Question) and block.graded:
            if not check_started:
                titled = previous != "kunskapskontroll"
                cells.append(_markdown(_check_intro(module, titled), "kunskapskontroll"))
                check_started = True
            cells.append(_code(f"ol.show({learner_spec(module, block)!r})", f"fraga-{block.id}"))
            solution = answer_cell_source(block.id, block.correct_answer())
            cells.append(
                _code(
                    f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION",
                    f"svar-{block.id}",
                    locked=False,
                    solution=True,
                )
            )
            cells.append(
                _code(
                    "# Rättas när du lämnar in.\n### BEGIN HIDDEN TESTS\n"
                    f"{test_source(block)}\n### END HIDDEN TESTS",
                    f"test-{block.id}",
                    points=block.points,
                )
            )
        else:
            cells.append(_code(f"ol.show({learner_spec(module, block)!r})", f"ovning-{block.id}"))
    cells.append(_code("ol.submit_button()", "lamna-in"))
    cells.append(_markdown(_sources(module), "kallor"))
    return nb
