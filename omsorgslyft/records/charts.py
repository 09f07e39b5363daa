"""Server-rendered SVG charts (no JavaScript, no CDN): coverage bars with a target line."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from omsorgslyft.records.filters import COVERAGE_TARGET, Coverage


def pct(share: float) -> str:
    """A share as Swedish writes it: ``0.8`` -> ``80 %``."""
    return f"{round(share * 100)} %"


def coverage_svg(title: str, rows: Sequence[Coverage], chart_id: str) -> str:
    """Horizontal bars, one per unit, with a dashed line at the 80 % target.

    The picture has a text alternative (``<title>``/``<desc>``) and every bar is labelled
    with its figures, so colour is never the only carrier of meaning.
    """
    label_w, bar_w, row_h, top = 230, 340, 30, 28
    height = top + row_h * len(rows) + 10
    width = label_w + bar_w + 130
    target_x = label_w + bar_w * COVERAGE_TARGET
    under = [r.unit for r in rows if not r.meets_target]
    desc = f"{len(rows)} enheter. " + (
        f"Under målet 80 procent: {', '.join(under)}."
        if under
        else "Alla enheter når målet 80 procent."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" class="ol-chart">',
        f'<title id="{chart_id}-t">Andel med giltig utbildning: {escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<text x="{target_x:.0f}" y="14" text-anchor="middle" class="ol-target-label">'
        f"Mål {pct(COVERAGE_TARGET)}</text>",
    ]
    for i, r in enumerate(rows):
        y = top + i * row_h
        w = bar_w * r.share
        cls = "ol-bar-ok" if r.meets_target else "ol-bar-low"
        name = r.unit if len(r.unit) <= 32 else r.unit[:31] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 19}" text-anchor="end" class="ol-axis">'
            f"{escape(name)}</text>"
            f'<rect x="{label_w}" y="{y + 5}" width="{bar_w}" height="20" class="ol-bar-bg"/>'
            f'<rect x="{label_w}" y="{y + 5}" width="{w:.1f}" height="20" class="{cls}"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 19}" class="ol-axis">'
            f"{pct(r.share)} ({r.valid} av {r.required})</text>"
        )
    parts.append(
        f'<line x1="{target_x:.0f}" y1="20" x2="{target_x:.0f}" y2="{height - 4}" '
        'class="ol-target" stroke-dasharray="6 4"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
