"""The loss-curve picture on the model page: a small inline SVG drawn on the server."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 560, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 18, 28
X_KEYS = ("step", "steps", "epoch", "seconds")
SERIES_NAMES = {
    "loss": "학습 손실",
    "train_loss": "학습 손실",
    "train_bpc": "학습 bpc",
    "bpc": "학습 bpc",
    "val_loss": "검증 손실",
    "val_bpc": "검증 bpc",
    "heldout_bpc": "비교용 글 bpc",
}
COLOURS = ("#b5542c", "#2c6fb5", "#3a8a3a", "#8a3a8a")


def curve_series(curve: list[dict[str, Any]]) -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """Split a stored curve into (x-axis name, {series name: [(x, y), ...]})."""
    points = [p for p in curve if isinstance(p, dict)]
    x_key = next((k for k in X_KEYS if points and all(k in p for p in points)), "")
    series: dict[str, list[tuple[float, float]]] = {}
    for index, point in enumerate(points):
        x = float(point[x_key]) if x_key else float(index)
        for key in SERIES_NAMES:
            value = point.get(key)
            if isinstance(value, int | float) and value == value:  # skip NaN
                series.setdefault(key, []).append((x, float(value)))
    return x_key or "index", series


def loss_curve_svg(curve: list[dict[str, Any]]) -> SafeString:
    """An SVG line chart of every loss/bpc series in the curve, or an empty string."""
    x_name, series = curve_series(curve or [])
    if not series:
        return mark_safe("")
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    margin = (max(ys) - min(ys)) * 0.05 or 0.5
    y0, y1 = max(0.0, min(ys) - margin), max(ys) + margin
    x1 = x1 if x1 > x0 else x0 + 1
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def sx(x: float) -> float:
        return PAD_LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return PAD_TOP + (1 - (y - y0) / (y1 - y0)) * plot_h

    lines = []
    dots = []
    legend = []
    for i, (key, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = [(f"{sx(x):.1f}", f"{sy(y):.1f}") for x, y in pts]
        lines.append((colour, " ".join(f"{cx},{cy}" for cx, cy in coords)))
        dots += [(cx, cy, colour) for cx, cy in coords]  # a run stopped early may have one point only
        legend.append((PAD_LEFT + 8 + i * 110, colour, PAD_LEFT + 22 + i * 110, SERIES_NAMES[key]))
    ticks = [(f"{sy(v):.1f}", f"{v:.2f}") for v in (y0, (y0 + y1) / 2, y1)]
    return format_html(
        '<svg class="loss-curve" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="학습 곡선"'
        ' xmlns="http://www.w3.org/2000/svg">'
        '<rect x="{pl}" y="{pt}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>'
        "{ticks}{lines}{dots}{legend}"
        '<text x="{xl}" y="{xy}" font-size="11" text-anchor="middle">{xname}</text>'
        "</svg>",
        w=WIDTH,
        h=HEIGHT,
        pl=PAD_LEFT,
        pt=PAD_TOP,
        pw=plot_w,
        ph=plot_h,
        ticks=format_html_join(
            "",
            '<text x="{}" y="{}" font-size="11" text-anchor="end" dominant-baseline="middle">{}</text>',
            ((PAD_LEFT - 4, y, label) for y, label in ticks),
        ),
        lines=format_html_join("", '<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>', lines),
        dots=format_html_join("", '<circle cx="{}" cy="{}" r="2.5" fill="{}"/>', dots),
        legend=format_html_join(
            "",
            '<rect x="{}" y="4" width="10" height="3" fill="{}"/><text x="{}" y="10" font-size="11">{}</text>',
            legend,
        ),
        xl=f"{PAD_LEFT + plot_w / 2:.0f}",
        xy=HEIGHT - 6,
        xname={"step": "학습 단계", "steps": "학습 단계", "epoch": "에폭", "seconds": "초"}.get(x_name, "기록 순서"),
    )
