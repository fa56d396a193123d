"""Bar charts as inline SVG, drawn on the server: no JavaScript, nothing fetched.

Every label is escaped (``html.escape``); sizes are fixed so a chart reads the same on a
phone and on a wall screen (the SVG scales with its ``viewBox``).
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 720, 220, 32


def bar_chart(title: str, bars: list[tuple[str, int]], chart_id: str) -> str:
    """One SVG: a bar per (label, value), the largest value at the top."""
    top = max((v for _, v in bars), default=0) or 1
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(len(bars), 1)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"'
        ' stroke="#555"/>',
        f'<text x="{PAD}" y="{PAD - 10}" font-size="12">{top:,}</text>',
    ]
    label_every = max(1, len(bars) // 12)
    for i, (label, value) in enumerate(bars):
        h = inner_h * value / top
        x = PAD + i * step
        parts.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{HEIGHT - PAD - h:.1f}"'
            f' width="{max(step - 2, 1):.1f}" height="{h:.1f}" fill="#2a6fb0"'
            f' data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {value:,}</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="10">'
                f"{escape(label[-5:])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
