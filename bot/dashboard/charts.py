"""Charts as plain server-rendered SVG (no script, nothing fetched). Every chart is shown beside a
table of the same numbers, and carries its own title for screen readers."""

from __future__ import annotations

from markupsafe import Markup, escape

#: bar colour: 7.9:1 against the white page (WCAG AA asks 3:1 for graphics)
BAR = "#1f4e79"


def bars(rows: list[tuple[str, float | int | None]], title: str, *, width: int = 560, bar_h: int = 22) -> Markup:
    """A horizontal bar chart of ``(label, value)``; the table beside it carries the numbers."""
    values = [float(v or 0) for _, v in rows]
    top = max(values, default=0.0) or 1.0
    label_w, gap = 150, 4
    height = max(1, len(rows)) * (bar_h + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet" class="chart"><title>{escape(title)}</title>']
    for i, ((label, _), v) in enumerate(zip(rows, values, strict=True)):
        y = gap + i * (bar_h + gap)
        w = int((width - label_w - 70) * v / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.0f}" text-anchor="end">{escape(str(label))}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="{BAR}"></rect>'
                     f'<text x="{label_w + w + 6}" y="{y + bar_h * 0.7:.0f}">{v:,.0f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def duration(seconds: float, *, signed: bool = False) -> str:
    """``95`` → ``1.6 min``; ``-7200`` with ``signed`` → ``-2.0 h``."""
    sign = ("+" if seconds > 0 else "-" if seconds < 0 else "±") if signed else ("-" if seconds < 0 else "")
    s = abs(seconds)
    if s < 60:
        text = f"{s:.0f} s"
    elif s < 3600:
        text = f"{s / 60:.1f} min"
    elif s < 86400:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86400:.1f} d"
    return sign + text
