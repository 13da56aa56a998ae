"""A store's colours: validation and WCAG contrast, so that no staff choice makes text unreadable.

A colour is `#rrggbb`. Text on a store colour is black or white, whichever contrasts more: one of
them always reaches 4.58:1 (WCAG AA asks 4.5:1), so no colour needs refusing for its text. Where a
page writes the colour itself as text (a price, a link) on its light background, it uses the
colour's "ink": the colour darkened just enough to reach 4.5:1 there. Imports nothing of ours.
"""

import re

from django.core.exceptions import ValidationError

HEX_COLOR = re.compile(r"#[0-9a-f]{6}")
BLACK = "#000000"
WHITE = "#ffffff"
# WCAG 2 AA for normal text.
MIN_TEXT_CONTRAST = 4.5
# The darkest light background a guest page puts text on (the kiosk's page colour): ink that
# reads there reads on the lighter ones (the online page, white panels) too.
LIGHT_PAGE = "#f4f4f1"


def normalize_hex_color(value: str) -> str:
    """`#RRGGBB`, `rrggbb` or ` #rrggbb ` as `#rrggbb`; anything else is returned as typed."""
    text = (value or "").strip().lower()
    if re.fullmatch(r"[0-9a-f]{6}", text):
        text = f"#{text}"
    return text


def validate_hex_color(value: str) -> None:
    if not HEX_COLOR.fullmatch(normalize_hex_color(value)):
        raise ValidationError(
            "Enter a colour as # and six hexadecimal digits, for example #0b3d91 (not %(value)s).",
            code="invalid_color",
            params={"value": value},
        )


def _channels(color: str) -> tuple[int, int, int]:
    color = normalize_hex_color(color)
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour, 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio, 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on `background` (always at least 4.58:1)."""
    on_white = contrast_ratio(background, WHITE)
    on_black = contrast_ratio(background, BLACK)
    return WHITE if on_white >= on_black else BLACK


def ink_on_light_page(color: str) -> str:
    """`color` darkened, in steps of 5 % towards black, until it reads as text on the light page."""
    r, g, b = _channels(color)
    for step in range(21):
        keep = 1 - step / 20
        ink = "#{:02x}{:02x}{:02x}".format(*(round(c * keep) for c in (r, g, b)))
        if contrast_ratio(ink, LIGHT_PAGE) >= MIN_TEXT_CONTRAST:
            return ink
    return BLACK
