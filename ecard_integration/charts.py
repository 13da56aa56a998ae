"""Bar charts as SVG drawn on the server: no script, no third-party file, nothing but the page.

`bar_chart` draws its title and groups of bars (a day, with one bar per series) on a shared scale, each bar a
link to what it counts (`<a href>` inside the SVG) with its value in words as its `<title>`
(shown on hover and read by screen readers). Colours are attributes, not styles, so the admin's
Content Security Policy needs nothing more. Every text is escaped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0b3d91", "#d9730d", "#2e7d32", "#6a1b9a")
INK = "#333333"
GRID = "#cccccc"
# Room for the title and labels around the plot, in SVG units.
TOP, BOTTOM, LEFT, RIGHT = 38, 34, 8, 8


@dataclass(frozen=True)
class Bar:
    value: float
    title: str  # the value in words, e.g. "Thu 3 Dec: 12 redemptions"
    href: str = ""


@dataclass(frozen=True)
class Group:
    label: str  # under the group, e.g. "Thu 3"
    bars: Sequence[Bar]


def bar_chart(
    groups: Sequence[Group],
    *,
    title: str,
    series: Sequence[str] = (),
    value_text: Callable[[float], str] = lambda value: f"{value:g}",
    width: int = 560,
    height: int = 200,
) -> SafeString:
    """An SVG bar chart: one group per label, its bars side by side, the tallest reaching the top
    of the plot (all zero: flat bars), its value written above each bar."""
    plot_width = width - LEFT - RIGHT
    plot_height = height - TOP - BOTTOM
    top_value = max((bar.value for group in groups for bar in group.bars), default=0) or 1
    slot = plot_width / max(len(groups), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="ops-chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="15" font-size="13" font-weight="bold" fill="{INK}">'
        f"{escape(title)}</text>",
        f'<line x1="{LEFT}" y1="{TOP + plot_height}" x2="{width - RIGHT}" '
        f'y2="{TOP + plot_height}" stroke="{GRID}"/>',
    ]
    for index, group in enumerate(groups):
        x0 = LEFT + index * slot
        count = max(len(group.bars), 1)
        bar_width = slot * 0.8 / count
        for n, bar in enumerate(group.bars):
            bar_height = plot_height * max(bar.value, 0) / top_value
            x = x0 + slot * 0.1 + n * bar_width
            y = TOP + plot_height - bar_height
            rect = (
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" '
                f'height="{bar_height:.1f}" fill="{PALETTE[n % len(PALETTE)]}">'
                f"<title>{escape(bar.title)}</title></rect>"
                f'<text x="{x + bar_width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="10" fill="{INK}">{escape(value_text(bar.value))}</text>'
            )
            parts.append(f'<a href="{escape(bar.href)}">{rect}</a>' if bar.href else rect)
        parts.append(
            f'<text x="{x0 + slot / 2:.1f}" y="{TOP + plot_height + 14}" text-anchor="middle" '
            f'font-size="11" fill="{INK}">{escape(group.label)}</text>'
        )
    for n, name in enumerate(series):
        x = LEFT + n * 110
        parts.append(
            f'<rect x="{x}" y="{height - 12}" width="10" height="10" '
            f'fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{height - 3}" font-size="11" fill="{INK}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
