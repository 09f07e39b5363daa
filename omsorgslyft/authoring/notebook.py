"""Compile a :class:`Module` into the notebook learners open (the module *page*).

Layout of the page notebook:

* a locked setup cell that starts the widget runtime and defines ``svar`` (the answers);
* read-only Markdown cells for prose (already safe HTML) and the glossary;
* locked widget cells (code hidden) for exercises, dialogues and reflections;
* one widget cell for the knowledge check: every pool question as a spec without its
  answer (:func:`learner_spec`) and which questions each variant asks; the learn service
  tells the page which variant an attempt is.

The page holds no answer key. The nbgrader assignments that grade the variants are built
by :mod:`omsorgslyft.authoring.assignment`; only grading reads their source notebooks.
Exercises carry their own answers (their feedback is immediate and they give no points).
"""

from __future__ import annotations

import random
import re
from typing import Any

import nbformat
from nbformat import NotebookNode

from omsorgslyft.authoring.draws import draw_variants
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


def markdown_cell(source: str, grade_id: str) -> NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = _meta(grade_id)
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def code_cell(source: str, grade_id: str, **kwargs: Any) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = _meta(grade_id, **kwargs)
    cell.metadata["jupyter"] = {"source_hidden": True}
    cell.metadata["tags"] = ["omsorgslyft"]
    if not kwargs.get("solution"):
        cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def answer_cell_source(question_id: str, answer: object) -> str:
    """One answer as a line of code. ``answer`` must already be validated data."""
    return f"{ANSWERS}[{question_id!r}] = {answer!r}"


#: the first line of a variant's answer cell (outside the solution region: it stays)
ANSWERS_START = f"{ANSWERS} = {{}}"


def answers_cell_source(answers: dict[str, object]) -> str:
    """The code of a filled answer cell: every given answer (validated data), one per line."""
    lines = [answer_cell_source(qid, value) for qid, value in answers.items()]
    return "\n".join([ANSWERS_START, *lines])


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


def _check_intro(module: Module, asked: int, titled: bool = True) -> str:
    pool = len(module.graded_questions)
    draw = (
        " Varje försök har sina egna frågor, dragna ur en större samling." if asked < pool else ""
    )
    per_day = module.check.attempts_per_day
    return (
        ('<h2 id="kunskapskontroll">Kunskapskontroll</h2>' if titled else "")
        + f"<p>{asked} frågor. Du behöver {module.pass_mark} % rätt för att bli godkänd. "
        "Frågorna rättas när du trycker på <strong>Lämna in</strong>, och du ser resultatet "
        f"direkt. Du kan göra {per_day} försök per dygn.{draw}</p>"
    )


def page_info(module: Module) -> dict[str, Any]:
    """What the page's runtime knows of the module: ids and numbers, never the key."""
    variants = draw_variants(module)
    return {
        "id": module.id,
        "title": module.title,
        "version": module.version,
        "pass_mark": module.pass_mark,
        "questions": [q.id for q in module.graded_questions],
        "variants": {letter: list(ids) for letter, ids in variants.items()},
        "attempts_per_day": module.check.attempts_per_day,
    }


def check_spec(module: Module) -> dict[str, Any]:
    """The knowledge check's one widget: every pool question (no key) and the draws."""
    return {
        "type": "kunskapskontroll",
        "id": "kunskapskontroll",
        "questions": {q.id: learner_spec(module, q) for q in module.graded_questions},
        "variants": page_info(module)["variants"],
    }


def new_notebook(meta: dict[str, Any]) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["omsorgslyft"] = meta
    return nb


def page_metadata(module: Module) -> dict[str, Any]:
    info = page_info(module)
    return {
        "module": module.id,
        "version": module.version,
        "title": module.title,
        "minutes": module.minutes,
        "pass_mark": module.pass_mark,
        "validity_months": module.validity_months,
        "summary": module.summary,
        "blocks": answer_schema(module),
        "variants": info["variants"],
        "attempts_per_day": info["attempts_per_day"],
    }


def build_page_notebook(module: Module) -> NotebookNode:
    """The module page learners open (Voilà): text, exercises and the knowledge check.

    It holds no answer key: graded questions are specs without correct answers or
    explanations (:func:`learner_spec`), and no answer or test cells. Grading has those
    (:mod:`omsorgslyft.authoring.assignment`).
    """
    nb = new_notebook(page_metadata(module))
    cells = nb.cells
    cells.append(
        code_cell(
            f"import omsorgslyft.runtime as ol\n{ANSWERS} = {{}}\nol.start({page_info(module)!r})",
            "start",
        )
    )
    cells.append(markdown_cell(_header(module), "rubrik"))
    check_shown = False
    heading = ""  # the author's last heading, if prose came just before this block
    block: Block
    for n, block in enumerate(module.blocks, start=1):
        previous, heading = heading, ""
        if isinstance(block, Prose):
            cells.append(markdown_cell(block.html, f"text-{n}"))
            heading = _last_heading(block.html)
        elif isinstance(block, Glossary):
            cells.append(markdown_cell(_glossary(block, previous != "ordlista"), f"ordlista-{n}"))
        elif isinstance(block, Question) and block.graded:
            if not check_shown:
                asked = len(next(iter(draw_variants(module).values())))
                intro = _check_intro(module, asked, titled=previous != "kunskapskontroll")
                cells.append(markdown_cell(intro, "kunskapskontroll"))
                cells.append(code_cell(f"ol.check({check_spec(module)!r})", "fragor"))
                check_shown = True
        else:
            cells.append(
                code_cell(f"ol.show({learner_spec(module, block)!r})", f"ovning-{block.id}")
            )
    cells.append(markdown_cell(_sources(module), "kallor"))
    return nb
