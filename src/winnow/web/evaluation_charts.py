"""The Evaluation page's pictures as inline SVG: precision-recall curves and the confusion matrix.

Pure functions over an evaluation report (:func:`winnow.evaluation.query.evaluate_project`);
no JavaScript, no external library, like the overview's daily chart.
"""

from __future__ import annotations

from html import escape
from typing import Any

from winnow.web.editor import PALETTE

PR_SIZE = 320
_PAD = 36
CELL = 34


def pr_curves_svg(per_class: dict[str, dict[str, Any]]) -> tuple[str, list[tuple[str, str]]]:
    """Precision against recall at IoU 0.5, one line per class; the SVG and its legend."""
    plot = PR_SIZE - _PAD - 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {PR_SIZE} {PR_SIZE}" '
        'role="img" aria-label="precision-recall curves" class="pr-curves">',
        f'<rect x="{_PAD}" y="8" width="{plot}" height="{plot}" fill="none" stroke="#c4c9d2"/>',
        f'<text x="{_PAD + plot / 2}" y="{PR_SIZE - 6}" font-size="10" text-anchor="middle" fill="#69707d">recall</text>',
        f'<text x="10" y="{8 + plot / 2}" font-size="10" text-anchor="middle" fill="#69707d" '
        f'transform="rotate(-90 10 {8 + plot / 2})">precision</text>',
        f'<text x="{_PAD - 4}" y="16" font-size="10" text-anchor="end" fill="#69707d">1</text>',
        f'<text x="{_PAD - 4}" y="{8 + plot}" font-size="10" text-anchor="end" fill="#69707d">0</text>',
    ]
    legend = []
    curves = [(n, c["pr_curve"]) for n, c in per_class.items() if c.get("pr_curve")]
    for i, (name, curve) in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        legend.append((name, color))
        points = " ".join(
            f"{_PAD + r * plot:.1f},{8 + (1 - p) * plot:.1f}"
            for r, p in zip(curve["recall"], curve["precision"], strict=True)
        )
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
        )
    if not curves:
        parts.append(
            f'<text x="{PR_SIZE / 2}" y="{PR_SIZE / 2}" text-anchor="middle" font-size="12" '
            'fill="#69707d">no curves: nothing to evaluate</text>'
        )
    parts.append("</svg>")
    return "".join(parts), legend


def confusion_svg(confusion: dict[str, Any] | None) -> str:
    """The confusion matrix as shaded cells with counts: rows human, columns predicted."""
    if not confusion or not confusion["labels"]:
        return '<p class="muted">no confusion matrix</p>'
    labels: list[str] = confusion["labels"]
    matrix: list[list[int]] = confusion["matrix"]
    n = len(labels)
    left, top = 110, 90
    size_w, size_h = left + n * CELL + 70, top + n * CELL + 8
    peak = max((v for row in matrix for v in row), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size_w} {size_h}" '
        f'width="{size_w}" role="img" aria-label="confusion matrix" class="confusion">',
        f'<text x="{left + n * CELL / 2}" y="12" font-size="10" text-anchor="middle" fill="#69707d">predicted</text>',
        f'<text x="8" y="{top - 6}" font-size="10" fill="#69707d">human ↓</text>',
    ]
    for j, label in enumerate(labels):
        x = left + j * CELL + CELL / 2
        parts.append(
            f'<text x="{x}" y="{top - 6}" font-size="10" text-anchor="start" fill="#333" '
            f'transform="rotate(-45 {x} {top - 6})">{escape(label[:16])}</text>'
        )
    for i, label in enumerate(labels):
        y = top + i * CELL
        parts.append(
            f'<text x="{left - 4}" y="{y + CELL / 2 + 4}" font-size="10" text-anchor="end" '
            f'fill="#333">{escape(label[:16])}</text>'
        )
        for j, value in enumerate(matrix[i]):
            shade = value / peak
            diagonal = i == j and i < n - 1
            color = f"rgba(47,128,87,{shade:.2f})" if diagonal else f"rgba(192,57,43,{shade:.2f})"
            ink = "#fff" if shade > 0.6 else "#333"
            parts.append(
                f'<rect x="{left + j * CELL}" y="{y}" width="{CELL - 2}" height="{CELL - 2}" '
                f'fill="{color}" stroke="#e1e4e8"><title>{escape(label)} → '
                f"{escape(labels[j])}: {value}</title></rect>"
                f'<text x="{left + j * CELL + CELL / 2 - 1}" y="{y + CELL / 2 + 3}" font-size="10" '
                f'text-anchor="middle" fill="{ink}">{value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
