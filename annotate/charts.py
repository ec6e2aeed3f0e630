"""Charts as inline SVG, drawn on the server: no JavaScript chart library, no CDN.

Each function returns a complete ``<svg>`` element (marked safe: every piece of
text in it goes through ``escape``). Shapes carry classes (``series``, ``point``,
``bar-value``, ``cell``) so tests and stylesheets can find them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2f5bd3", "#d97706", "#1f7a3a", "#b3261e")
FONT_SIZE = 12  # px, a little under the 15 px body text (concord.css)
_FONT = f'font-family="system-ui, sans-serif" font-size="{FONT_SIZE}"'


def _is_number(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    # Drawn at its own size (one user unit = one CSS pixel), so FONT_SIZE is the text's
    # size on screen; `width="100%"` scaled a 356-unit heatmap up to the card's width and
    # its 11-unit text to about three times the body text. The stylesheet's
    # `svg.chart { max-width: 100%; height: auto }` only ever shrinks it on narrow screens.
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _legend_entry(x: float, y: float, colour: str, name: str) -> str:
    return (
        f'<rect x="{x}" y="{y - 9}" width="12" height="4" fill="{colour}"/>'
        f'<text x="{x + 18}" y="{y - 3}" {_FONT}>{escape(name)}</text>'
    )


def _centred_text(width: int, height: int, text: str) -> str:
    return f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT}>{escape(text)}</text>'


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_min: float = 0.0,
    y_max: float = 1.0,
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """One line per series over the x labels (e.g. days); missing values break nothing, they are skipped."""
    left, right, top, bottom = 40, 120, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(x_labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        clamped = min(max(v, y_min), y_max)
        return top + plot_h * (1 - (clamped - y_min) / ((y_max - y_min) or 1))

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#d9dee7"/>']
    for tick in (y_min, (y_min + y_max) / 2, y_max):
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eef0f4"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" {_FONT}>{tick:.2g}</text>'
        )
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        body.append(
            f'<text x="{x(i):.1f}" y="{height - 14}" text-anchor="middle" {_FONT}>{escape(x_labels[i])}</text>'
        )
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None and _is_number(v)]
        if points:
            d = " ".join(f"{'M' if k == 0 else 'L'}{px:.1f},{py:.1f}" for k, (px, py) in enumerate(points))
            body.append(
                f'<path class="series" data-series="{escape(name)}" d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            body.extend(
                f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>'
                for px, py in points
            )
        body.append(_legend_entry(width - right + 12, top + 14 + 18 * s, colour, name))
    if n == 0:
        body.append(_centred_text(width, height, "No votes yet"))
    return _svg(width, height, title, body)


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    threshold: float | None = None,
    flagged: Sequence[bool] | None = None,
    width: int = 640,
    bar_height: int = 22,
) -> SafeString:
    """Horizontal bars in [0, 1], one per label, with an optional dashed threshold line; flagged bars in red."""
    left, right, top = 140, 60, 10
    plot_w = width - left - right
    height = top * 2 + bar_height * max(len(labels), 1) + 16
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        yy = top + i * bar_height
        colour = "#b3261e" if flagged and flagged[i] else "#2f5bd3"
        body.append(
            f'<text x="{left - 8}" y="{yy + bar_height * 0.65:.1f}" text-anchor="end" {_FONT}>{escape(label)}</text>'
        )
        if value is not None and _is_number(value):
            w = plot_w * min(max(value, 0.0), 1.0)
            body.append(
                f'<rect class="bar-value" x="{left}" y="{yy + 3}" width="{w:.1f}" height="{bar_height - 6}" fill="{colour}">'
                f"<title>{escape(label)}: {value:.2f}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{yy + bar_height * 0.65:.1f}" {_FONT}>{value:.2f}</text>'
            )
        else:
            body.append(
                f'<text x="{left + 4}" y="{yy + bar_height * 0.65:.1f}" fill="#5b6475" {_FONT}>no gold yet</text>'
            )
    if threshold is not None:
        tx = left + plot_w * threshold
        body.append(
            f'<line class="threshold" x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{height - 16}" '
            f'stroke="#b3261e" stroke-dasharray="4 3"/>'
            f'<text x="{tx:.1f}" y="{height - 4}" text-anchor="middle" {_FONT}>min {threshold:.2f}</text>'
        )
    return _svg(width, height, title, body)


def heatmap(
    *, title: str, matrix: Sequence[Sequence[float]], labels: Sequence[str], cell: int = 64
) -> SafeString:
    """A square matrix of probabilities as shaded cells (rows: true label, columns: given label)."""
    n = len(labels)
    left, top = 90, 40
    width, height = left + cell * n + 10, top + cell * n + 10
    body = [
        f'<text x="{left + cell * n / 2}" y="12" text-anchor="middle" {_FONT}>given label →</text>',
        f'<text x="10" y="{top - 8}" {_FONT}>true ↓</text>',
    ]
    for j, label in enumerate(labels):
        body.append(
            f'<text x="{left + cell * j + cell / 2}" y="{top - 8}" text-anchor="middle" {_FONT}>{escape(label)}</text>'
        )
    for i, row in enumerate(matrix):
        body.append(
            f'<text x="{left - 8}" y="{top + cell * i + cell / 2 + 4}" text-anchor="end" {_FONT}>{escape(labels[i])}</text>'
        )
        for j, value in enumerate(row):
            known = _is_number(value)
            v = float(value) if known else 0.0
            shown = f"{v:.2f}" if known else "—"
            # White → accent blue as the probability goes 0 → 1; text flips to white on dark cells.
            r, g, b = (int(255 - (255 - c) * v) for c in (47, 91, 211))
            ink = "#fff" if v > 0.55 else "#1d2330"
            x0, y0 = left + cell * j, top + cell * i
            body.append(
                f'<rect class="cell" x="{x0}" y="{y0}" width="{cell}" height="{cell}" fill="rgb({r},{g},{b})" stroke="#fff">'
                f"<title>true {escape(labels[i])}, given {escape(labels[j])}: {shown}</title></rect>"
                f'<text x="{x0 + cell / 2}" y="{y0 + cell / 2 + 4}" text-anchor="middle" fill="{ink}" {_FONT}>{shown}</text>'
            )
    return _svg(width, height, title, body)


def before_after_chart(
    *,
    title: str,
    labels: Sequence[str],
    before: Sequence[float | None],
    after: Sequence[float | None],
    width: int = 640,
    row_height: int = 22,
) -> SafeString:
    """Per label, a dot at the earlier value and one at the recent value in [0, 1], joined by a line."""
    left, right, top = 140, 60, 24
    plot_w = width - left - right
    height = top + row_height * max(len(labels), 1) + 16
    body = [
        f'<circle cx="{left}" cy="10" r="4" fill="{PALETTE[0]}"/><text x="{left + 8}" y="14" {_FONT}>earlier</text>',
        f'<circle cx="{left + 80}" cy="10" r="4" fill="{PALETTE[3]}"/><text x="{left + 88}" y="14" {_FONT}>recent window</text>',
    ]
    for i, label in enumerate(labels):
        yy = top + i * row_height + row_height / 2
        body.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end" {_FONT}>{escape(label)}</text>')
        points = []
        for value, colour, name in ((before[i], PALETTE[0], "earlier"), (after[i], PALETTE[3], "recent")):
            if value is not None and _is_number(value):
                px = left + plot_w * min(max(value, 0.0), 1.0)
                points.append(px)
                body.append(
                    f'<circle class="point {name}" cx="{px:.1f}" cy="{yy:.1f}" r="4" fill="{colour}">'
                    f"<title>{escape(label)} {name}: {value:.2f}</title></circle>"
                )
        if len(points) == 2:
            body.insert(
                2,
                f'<line x1="{points[0]:.1f}" x2="{points[1]:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#9aa3b2"/>',
            )
    for tick in (0.0, 0.5, 1.0):
        tx = left + plot_w * tick
        body.append(f'<text x="{tx:.1f}" y="{height - 4}" text-anchor="middle" {_FONT}>{tick:.1f}</text>')
    return _svg(width, height, title, body)


def interval_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[tuple[float | None, float | None, float | None]]]],
    reference: float | None = 0.5,
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """Per x label, one dot per series at its rate in [0, 1] with a whisker from low to high (e.g. a Wilson interval)."""
    left, right, top, bottom = 40, 160, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n, k = len(x_labels), max(len(series), 1)

    def x(i: int, s: float) -> float:
        # The series of one label sit side by side around its slot's centre, so whiskers never overlap.
        slot = plot_w / max(n, 1)
        return left + slot * i + slot * (s + 1) / (k + 1)

    def y(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), 1.0))

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#d9dee7"/>']
    for tick in (0.0, 0.5, 1.0):
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eef0f4"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" {_FONT}>{tick:.2g}</text>'
        )
    if reference is not None:
        body.append(
            f'<line class="threshold" x1="{left}" x2="{left + plot_w}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
            f'stroke="#b3261e" stroke-dasharray="4 3"/>'
        )
    for i, label in enumerate(x_labels):
        body.append(
            f'<text x="{x(i, (k - 1) / 2):.1f}" y="{height - 14}" text-anchor="middle" {_FONT}>{escape(label)}</text>'
        )
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        for i, (rate, low, high) in enumerate(values):
            if rate is None or not _is_number(rate):
                continue
            px = x(i, s)
            if low is not None and high is not None and _is_number(low) and _is_number(high):
                body.append(
                    f'<line class="interval" x1="{px:.1f}" x2="{px:.1f}" y1="{y(low):.1f}" y2="{y(high):.1f}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
                span = f" ({low:.2f}–{high:.2f})"
            else:
                span = ""
            body.append(
                f'<circle class="point" data-series="{escape(name)}" cx="{px:.1f}" cy="{y(rate):.1f}" r="4" fill="{colour}">'
                f"<title>{escape(x_labels[i])} {escape(name)}: {rate:.2f}{span}</title></circle>"
            )
        body.append(_legend_entry(width - right + 12, top + 14 + 18 * s, colour, name))
    if n == 0:
        body.append(_centred_text(width, height, "No rounds yet"))
    return _svg(width, height, title, body)
