"""nbgrader's gradebook, read (never created or written): the scores formgrader changed.

Keyed by nbgrader's own names, (student, assignment); an assignment is a variant of a
module version (``kasam-v1-b``, see :mod:`omsorgslyft.authoring.draws`) or, for a gradebook
from before question pools, the module itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    MetaData,
    String,
    Table,
    case,
    func,
    select,
)

from omsorgslyft.authoring.draws import module_of

gradebook = MetaData()
gb_assignment = Table(
    "assignment", gradebook, Column("id", String(32), primary_key=True), Column("name", String)
)
gb_submitted = Table(
    "submitted_assignment",
    gradebook,
    Column("id", String(32), primary_key=True),
    Column("assignment_id", String(32), ForeignKey("assignment.id")),
    Column("student_id", String(128)),
    Column("timestamp", DateTime),
)
gb_notebook = Table(
    "submitted_notebook",
    gradebook,
    Column("id", String(32), primary_key=True),
    Column("assignment_id", String(32), ForeignKey("submitted_assignment.id")),
    Column("notebook_id", String(32)),  # the assignment's (source) notebook
)
gb_base_cell = Table(
    "base_cell",
    gradebook,
    Column("id", String(32), primary_key=True),
    Column("notebook_id", String(32)),
)
gb_grade = Table(
    "grade",
    gradebook,
    Column("id", String(32), primary_key=True),
    Column("notebook_id", String(32), ForeignKey("submitted_notebook.id")),
    Column("cell_id", String(32), ForeignKey("grade_cells.id")),
    Column("auto_score", Float),
    Column("manual_score", Float),
    Column("extra_credit", Float),
)
gb_grade_cell = Table(
    "grade_cells",
    gradebook,
    Column("id", String(32), primary_key=True),
    Column("max_score", Float),
)
gb_source_notebook = Table("notebook", gradebook, Column("id", String(32), primary_key=True))


Scores = dict[tuple[str, str], tuple[datetime, float, float]]
# (student, module) -> [(assignment, timestamp, score, max score)]
ModuleScores = dict[tuple[str, str], list[tuple[str, datetime, float, float]]]


def per_module(scores: Scores) -> ModuleScores:
    """Gradebook scores regrouped by the module each assignment is a variant of: a
    student may have one gradebook submission for each variant of a module."""
    out: ModuleScores = {}
    for (student, assignment), (stamp, score, max_score) in scores.items():
        out.setdefault((student, module_of(assignment)), []).append(
            (assignment, stamp, score, max_score)
        )
    return out


def gradebook_scores(
    source: Engine, learner: str | None = None, everything: bool = False
) -> Scores:
    """(student, assignment) -> (timestamp, score, max score) from nbgrader's gradebook.

    Only the submissions a person has graded by hand or given extra credit in
    formgrader: the autograded scores are in the submission log already (the grading
    service copied them from the gradebook), and summing two million grade rows is
    what makes ``nbgrader export`` slow. ``everything`` sums every submission.
    """
    score = func.sum(
        func.coalesce(gb_grade.c.manual_score, gb_grade.c.auto_score, 0.0)
        + func.coalesce(gb_grade.c.extra_credit, 0.0)
    )
    query = (
        select(
            gb_submitted.c.student_id,
            gb_assignment.c.name,
            gb_submitted.c.timestamp,
            score.label("score"),
            func.sum(gb_grade_cell.c.max_score).label("max_score"),
        )
        .select_from(
            gb_submitted.join(gb_assignment, gb_assignment.c.id == gb_submitted.c.assignment_id)
            .join(gb_notebook, gb_notebook.c.assignment_id == gb_submitted.c.id)
            .join(gb_grade, gb_grade.c.notebook_id == gb_notebook.c.id)
            .join(gb_grade_cell, gb_grade_cell.c.id == gb_grade.c.cell_id)
        )
        .group_by(gb_submitted.c.id, gb_submitted.c.student_id, gb_assignment.c.name)
    )
    out: Scores = {}
    with source.connect() as conn:
        if learner is not None and not everything:
            return _hand_graded(conn, gb_submitted.c.student_id == learner, score)
        if everything:
            if learner is not None:
                query = query.where(gb_submitted.c.student_id == learner)
            for r in conn.execute(query):
                out[(r.student_id, r.name)] = (
                    r.timestamp,
                    float(r.score),
                    float(r.max_score or 0),
                )
        else:
            # one pass over the grade table finds what a person touched; the rest
            # goes through the indexes
            touched = select(gb_grade.c.notebook_id).where(
                gb_grade.c.manual_score.is_not(None) | gb_grade.c.extra_credit.is_not(None)
            )
            ids = sorted(
                {
                    r[0]
                    for r in conn.execute(
                        select(gb_notebook.c.assignment_id).where(gb_notebook.c.id.in_(touched))
                    )
                }
            )
            for chunk in _chunks(ids):
                out.update(_hand_graded(conn, gb_submitted.c.id.in_(chunk), score))
    return out


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _hand_graded(conn: Any, where: Any, score: Any) -> Scores:
    """Scores of the submissions matching ``where`` that someone graded by hand or gave
    extra credit, found through nbgrader's unique-constraint indexes: its grade table has
    no index on notebook_id alone, and a plain join would read all two million rows."""
    submitted = {
        r.id: (r.student_id, r.name, r.timestamp)
        for r in conn.execute(
            select(
                gb_submitted.c.id,
                gb_submitted.c.student_id,
                gb_assignment.c.name,
                gb_submitted.c.timestamp,
            )
            .select_from(
                gb_submitted.join(gb_assignment, gb_assignment.c.id == gb_submitted.c.assignment_id)
            )
            .where(where)
        )
    }
    notebooks: list[Any] = []
    for ids in _chunks(list(submitted)):
        notebooks.extend(
            conn.execute(
                select(
                    gb_notebook.c.id, gb_notebook.c.assignment_id, gb_notebook.c.notebook_id
                ).where(
                    gb_notebook.c.notebook_id.in_(select(gb_source_notebook.c.id)),
                    gb_notebook.c.assignment_id.in_(ids),
                )
            ).all()
        )
    touched = func.sum(
        case(
            (gb_grade.c.manual_score.is_not(None) | gb_grade.c.extra_credit.is_not(None), 1),
            else_=0,
        )
    )
    sums: dict[str, float] = {}
    by_hand: set[str] = set()
    owner = {n.id: n.assignment_id for n in notebooks}
    # the grade cells of each assignment notebook, so every index probe hits a grade
    cells: dict[str, list[str]] = defaultdict(list)
    for cell, source in conn.execute(
        select(gb_grade_cell.c.id, gb_base_cell.c.notebook_id).select_from(
            gb_grade_cell.join(gb_base_cell, gb_base_cell.c.id == gb_grade_cell.c.id)
        )
    ):
        cells[source].append(cell)
    per_source: dict[str, list[str]] = defaultdict(list)
    for n in notebooks:
        per_source[n.notebook_id].append(n.id)
    for source, ids_of_source in per_source.items():
        for ids in _chunks(ids_of_source):
            for notebook, total, hand in conn.execute(
                select(gb_grade.c.notebook_id, score, touched)
                .where(gb_grade.c.cell_id.in_(cells[source]), gb_grade.c.notebook_id.in_(ids))
                .group_by(gb_grade.c.notebook_id)
            ):
                sums[notebook] = float(total or 0)
                if hand:
                    by_hand.add(owner[notebook])
    notebooks = [n for n in notebooks if n.assignment_id in by_hand]
    maxima = dict(
        conn.execute(
            select(gb_base_cell.c.notebook_id, func.sum(gb_grade_cell.c.max_score))
            .select_from(gb_grade_cell.join(gb_base_cell, gb_base_cell.c.id == gb_grade_cell.c.id))
            .where(gb_base_cell.c.notebook_id.in_({n.notebook_id for n in notebooks}))
            .group_by(gb_base_cell.c.notebook_id)
        ).all()
    )
    totals: dict[tuple[str, str], list[Any]] = {}
    for n in notebooks:
        student, name, stamp = submitted[n.assignment_id]
        total = totals.setdefault((student, name), [stamp, 0.0, 0.0])
        total[1] += sums.get(n.id, 0.0)
        total[2] += float(maxima.get(n.notebook_id) or 0)
    return {k: (v[0], v[1], v[2]) for k, v in totals.items()}
