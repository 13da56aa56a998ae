"""The demo menu's pictures, drawn here with Pillow: flat food illustrations, a logo, an attract image.

Nothing is downloaded and nothing is random: the same code draws the same pixels, and they go
through the same processing as a staff upload (`ordering.images`). Each drawing is made at twice
its size and scaled down, which smooths the edges.
"""

import io
import math
from collections.abc import Callable

from PIL import Image, ImageChops, ImageDraw

SCALE = 2
W, H = 800, 600  # the drawings' coordinates (an item photo's size)

CREAM = (252, 248, 240)
WHITE = (255, 255, 255)
SHADOW = (0, 0, 0, 40)
COFFEE = (92, 54, 32)
CREMA = (176, 112, 60)
FOAM = (244, 232, 214)
GOLD = (222, 150, 60)
GOLD_DARK = (170, 98, 34)
BREAD = (238, 206, 150)
CRUST = (196, 132, 70)
GREEN = (150, 190, 84)
GREEN_DARK = (80, 124, 40)
RED = (214, 60, 52)
CHOCOLATE = (98, 52, 36)
CHOCOLATE_LIGHT = (140, 80, 54)
BACKGROUNDS = {
    "Coffee": (243, 227, 207),
    "Food": (226, 238, 217),
    "Treats": (248, 222, 228),
}


class Canvas:
    """A drawing surface in 800 × 600 coordinates, drawn at SCALE times that size."""

    def __init__(self, size=(W, H), background=CREAM, transparent=False):
        self.size = size
        # RGB, so that a translucent fill (a shadow) blends into what is under it.
        mode, fill = ("RGBA", (0, 0, 0, 0)) if transparent else ("RGB", background)
        self.image = Image.new(mode, (size[0] * SCALE, size[1] * SCALE), fill)
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        self.place(0, 0, 1)

    def place(self, x, y, zoom):
        """Draw what follows `zoom` times its size with its (0, 0) at (x, y)."""
        self.origin, self.zoom = (x, y), zoom

    def _pts(self, points):
        (ox, oy), k = self.origin, self.zoom * SCALE
        return [(ox * SCALE + x * k, oy * SCALE + y * k) for x, y in points]

    def ellipse(self, cx, cy, rx, ry, fill, angle=0.0):
        """An ellipse turned by `angle` degrees, as a polygon (Pillow's own cannot turn)."""
        a = math.radians(angle)
        points = []
        for step in range(96):
            t = 2 * math.pi * step / 96
            x, y = rx * math.cos(t), ry * math.sin(t)
            points.append(
                (cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a))
            )
        self.draw.polygon(self._pts(points), fill=fill)

    def polygon(self, points, fill):
        self.draw.polygon(self._pts(points), fill=fill)

    def rect(self, x0, y0, x1, y1, fill, radius=0):
        corners = [c for point in self._pts([(x0, y0), (x1, y1)]) for c in point]
        self.draw.rounded_rectangle(corners, radius=radius * self.zoom * SCALE, fill=fill)

    def line(self, points, fill, width):
        width = round(width * self.zoom * SCALE)
        self.draw.line(self._pts(points), fill=fill, width=width, joint="curve")

    def masked(self, mask_points, bands):
        """Horizontal bands (y0, y1, colour) painted only inside the polygon `mask_points`."""
        layer = Image.new("RGBA", self.image.size, (0, 0, 0, 0))
        layer_draw = ImageDraw.Draw(layer)
        for y0, y1, colour in bands:
            layer_draw.rectangle([0, y0 * SCALE, self.image.size[0], y1 * SCALE], fill=colour)
        mask = Image.new("L", self.image.size, 0)
        ImageDraw.Draw(mask).polygon(self._pts(mask_points), fill=255)
        self.image.paste(layer, (0, 0), ImageChops.multiply(layer.getchannel("A"), mask))

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.resize(self.size, Image.Resampling.LANCZOS).save(out, "PNG")
        return out.getvalue()


def _table(c: Canvas):
    c.ellipse(400, 470, 330, 80, (255, 255, 255, 110))


def _steam(c: Canvas, x, top):
    for dx in (-40, 0, 40):
        points = [(x + dx + 12 * math.sin(i / 3), top - i * 6) for i in range(18)]
        c.line(points, (255, 255, 255, 170), 8)


def espresso(c: Canvas):
    _table(c)
    c.ellipse(400, 440, 200, 48, SHADOW)
    c.ellipse(400, 430, 190, 44, WHITE)
    c.ellipse(400, 424, 120, 24, (236, 236, 236))
    c.ellipse(505, 330, 44, 40, WHITE)
    c.ellipse(505, 330, 24, 22, BACKGROUNDS["Coffee"])
    c.polygon([(300, 270), (500, 270), (478, 390), (322, 390)], WHITE)
    c.ellipse(400, 392, 78, 28, WHITE)
    c.ellipse(400, 270, 100, 26, (238, 238, 238))
    c.ellipse(400, 272, 88, 20, COFFEE)
    c.ellipse(400, 274, 70, 13, CREMA)
    _steam(c, 400, 230)


def latte(c: Canvas):
    _table(c)
    c.ellipse(400, 478, 130, 26, SHADOW)
    glass = [(320, 150), (480, 150), (462, 470), (338, 470)]
    c.polygon(glass, (230, 240, 245))
    c.masked(
        [(326, 160), (474, 160), (458, 462), (342, 462)],
        [(160, 215, FOAM), (215, 330, CREMA), (330, 470, (250, 240, 226))],
    )
    c.ellipse(400, 150, 80, 14, (210, 225, 232))
    c.ellipse(400, 152, 72, 10, FOAM)
    c.rect(350, 175, 362, 440, (255, 255, 255, 120), radius=6)


def cappuccino(c: Canvas):
    _table(c)
    c.ellipse(410, 318, 210, 210, SHADOW)
    c.ellipse(400, 305, 205, 205, WHITE)
    c.ellipse(400, 305, 150, 150, (236, 236, 236))
    c.ellipse(575, 250, 46, 30, WHITE, angle=-25)
    c.ellipse(400, 305, 128, 128, WHITE)
    c.ellipse(400, 305, 112, 112, CREMA)
    c.ellipse(400, 305, 96, 96, COFFEE)
    c.ellipse(376, 288, 30, 30, FOAM)
    c.ellipse(424, 288, 30, 30, FOAM)
    c.polygon([(348, 300), (452, 300), (400, 356)], FOAM)


def croissant(c: Canvas):
    _table(c)
    c.ellipse(400, 450, 250, 44, SHADOW)
    cx, cy, radius = 400, 540, 220
    # The ends first, the middle last: each segment overlaps the one outside it.
    segments = [(-60, 56, 44), (60, 56, 44), (-31, 78, 60), (31, 78, 60), (0, 92, 70)]
    for angle, length, width in segments:
        a = math.radians(angle - 90)
        x, y = cx + radius * math.cos(a), cy + radius * math.sin(a)
        c.ellipse(x, y, width + 6, length + 6, GOLD_DARK, angle=angle)
        c.ellipse(x, y, width, length, GOLD, angle=angle)
        c.ellipse(x - 10, y - length / 3, width / 3, length / 3, (246, 196, 120), angle=angle)


def avocado_toast(c: Canvas):
    _table(c)
    c.ellipse(400, 470, 240, 40, SHADOW)
    c.rect(200, 220, 600, 470, CRUST, radius=40)
    c.ellipse(290, 230, 100, 70, CRUST)
    c.ellipse(510, 230, 100, 70, CRUST)
    c.rect(222, 240, 578, 452, BREAD, radius=30)
    c.ellipse(292, 246, 82, 52, BREAD)
    c.ellipse(508, 246, 82, 52, BREAD)
    for index, x in enumerate(range(260, 560, 60)):
        c.ellipse(x, 340, 40, 92, GREEN_DARK, angle=20)
        c.ellipse(x, 340, 32, 84, GREEN, angle=20)
        c.ellipse(x - 6, 330 - (index % 2) * 10, 10, 34, (196, 222, 130), angle=20)
    for x, y in ((280, 290), (350, 400), (430, 300), (500, 390), (540, 280), (390, 350)):
        c.ellipse(x, y, 7, 4, RED, angle=x % 90)
    c.polygon([(620, 470), (700, 470), (660, 400)], (250, 214, 64))
    c.polygon([(632, 462), (688, 462), (660, 414)], (255, 236, 140))


def club_sandwich(c: Canvas):
    _table(c)
    c.ellipse(400, 475, 270, 40, SHADOW)
    for left in (170, 410):
        triangle = [(left, 470), (left + 220, 470), (left + 110, 170)]
        c.polygon(triangle, CRUST)
        c.masked(
            [(left + 10, 462), (left + 210, 462), (left + 110, 190)],
            [
                (150, 280, BREAD),
                (280, 300, GREEN),
                (300, 322, RED),
                (322, 338, (250, 240, 226)),
                (338, 356, (200, 96, 70)),
                (356, 376, GREEN),
                (376, 470, BREAD),
            ],
        )
        c.rect(left + 106, 110, left + 114, 230, (214, 180, 120), radius=3)
        c.ellipse(left + 110, 110, 16, 16, (110, 140, 60))


def chocolate_cake(c: Canvas):
    _table(c)
    c.ellipse(400, 465, 270, 48, SHADOW)
    c.ellipse(400, 455, 260, 44, WHITE)
    side = [(200, 300), (560, 250), (560, 430), (200, 470)]
    c.polygon(side, CHOCOLATE)
    c.masked(
        [(200, 300), (560, 250), (560, 430), (200, 470)],
        [(320, 340, FOAM), (380, 398, FOAM)],
    )
    c.polygon([(560, 250), (640, 300), (640, 410), (560, 430)], CHOCOLATE_LIGHT)
    c.polygon([(200, 300), (560, 250), (640, 300), (330, 352)], CHOCOLATE_LIGHT)
    c.ellipse(520, 262, 26, 26, (186, 24, 44))
    c.line([(520, 238), (540, 196)], (90, 130, 50), 5)


def cookie_box(c: Canvas):
    _table(c)
    c.ellipse(400, 468, 250, 40, SHADOW)
    c.rect(220, 230, 580, 460, (30, 120, 120), radius=16)
    c.rect(205, 200, 595, 262, (24, 100, 100), radius=14)
    c.rect(385, 200, 415, 460, (232, 72, 72))
    c.ellipse(360, 185, 46, 24, (232, 72, 72), angle=-25)
    c.ellipse(440, 185, 46, 24, (232, 72, 72), angle=25)
    c.ellipse(400, 196, 16, 16, (200, 50, 50))
    for x in (250, 400, 550):
        c.ellipse(x, 470, 68, 40, (196, 140, 80))
        c.ellipse(x, 464, 64, 36, (222, 170, 104))
        for dx, dy in ((-26, -8), (10, -14), (28, 6), (-6, 10)):
            c.ellipse(x + dx, 464 + dy, 7, 5, CHOCOLATE)


DRAWINGS: dict[str, Callable[[Canvas], None]] = {
    "Espresso": espresso,
    "Latte": latte,
    "Cappuccino": cappuccino,
    "Croissant": croissant,
    "Avocado toast": avocado_toast,
    "Club sandwich": club_sandwich,
    "Chocolate cake": chocolate_cake,
    "Gift box of cookies": cookie_box,
}


def item_picture(name: str, category: str) -> bytes | None:
    """The PNG drawn for a demo item, None for a name without a drawing."""
    drawing = DRAWINGS.get(name)
    if drawing is None:
        return None
    canvas = Canvas(background=BACKGROUNDS.get(category, CREAM))
    drawing(canvas)
    return canvas.png()


def logo(brand: tuple[int, int, int]) -> bytes:
    """A round emblem: a cup with steam in white on the brand colour (transparent around it)."""
    c = Canvas(size=(160, 160), transparent=True)
    c.ellipse(80, 80, 78, 78, brand)
    c.polygon([(46, 70), (106, 70), (98, 118), (54, 118)], WHITE)
    c.ellipse(76, 118, 22, 8, WHITE)
    c.ellipse(110, 88, 14, 14, WHITE)
    c.ellipse(110, 88, 7, 7, brand)
    c.ellipse(76, 70, 30, 7, (230, 230, 230))
    for dx in (-12, 4, 20):
        c.line([(64 + dx + 4 * math.sin(i / 2), 58 - i * 3) for i in range(8)], WHITE, 4)
    return c.png()


def attract(brand: tuple[int, int, int]) -> bytes:
    """The kiosk's attract image: a cappuccino and a croissant on the brand colour, square so that
    a portrait or a landscape screen can crop it to fill."""
    c = Canvas(size=(W, W), background=brand)
    for row in range(7):
        for column in range(7):
            x, y = 50 + column * 120 + (row % 2) * 60, 50 + row * 120
            c.ellipse(x, y, 18, 11, (255, 255, 255, 30), angle=35)
    c.ellipse(400, 400, 330, 330, (255, 255, 255, 36))
    c.place(60, 20, 0.85)
    cappuccino(c)
    c.place(150, 330, 0.75)
    croissant(c)
    return c.png()
