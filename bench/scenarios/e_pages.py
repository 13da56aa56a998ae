"""E. Guest pages: weight (bytes, requests, third-party origins) and server p95 at 32 guests.

Each guest page is fetched as a browser would: the HTML, then every script, stylesheet, icon and
image it names (and what the stylesheets name), all from gunicorn (static files through
WhiteNoise, as production serves them). Bytes are uncompressed (gzip in brackets).
"""

from __future__ import annotations

import gzip
import re
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from bench import data, load

CSS_URL_RE = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
GUESTS = 32
ITEM_RE = re.compile(r'name="item" value="([0-9]+)"')
TOTAL_RE = re.compile(r'name="expected_total" value="([0-9.]+)"')
GUEST_PATH_RE = re.compile(r"(/kiosk/g/[A-Za-z0-9_-]{16}/)")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if any(
                r in rel for r in ("stylesheet", "icon", "preload", "modulepreload", "manifest")
            ):
                self.urls.append(attrs["href"])


def weigh(guest, path: str) -> dict:
    """Fetch `path` and everything it loads; bytes, requests, third-party origins."""
    page = guest.get(path)
    if page.status != 200:
        return {"error": f"GET {path} answered {page.status}"}
    origin = f"http://{guest.host}:{guest.port}"
    total = [len(page.body)]
    zipped = [len(gzip.compress(page.body))]
    third_party: set[str] = set()
    missing: list[str] = []
    seen: set[str] = set()
    parser = _Links()
    parser.feed(page.text)
    queue = [urljoin(origin + path, url) for url in parser.urls]
    while queue:
        url = queue.pop(0)
        if url in seen or url.startswith("data:"):
            continue
        seen.add(url)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            third_party.add(f"{parts.scheme}://{parts.netloc}")
            continue
        response = guest.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        body = response.body if response.status == 200 else None
        if body is None:
            missing.append(parts.path)
            continue
        total.append(len(body))
        zipped.append(len(gzip.compress(body)))
        if parts.path.endswith(".css"):
            for match in CSS_URL_RE.finditer(body.decode("utf-8", errors="replace")):
                queue.append(urljoin(url, match.group(1) or match.group(2)))
    return {
        "html_bytes": total[0],
        "bytes": sum(total),
        "gzip_bytes": sum(zipped),
        "requests": 1 + len(seen),
        "third_party_origins": sorted(third_party),
        "missing": missing,
    }


# --- Guests with something in their cart, an open order, a kiosk visit --------------------------


def online_guest(stack, card: str | None = None) -> tuple[object, dict[str, str]]:
    """A guest who added an item, checked out, and (with `card`) paid: their pages."""
    guest = stack.guest()
    menu = guest.get("/")
    item = ITEM_RE.search(menu.text).group(1)
    guest.post("/cart/add/", {"item": item, "quantity": "1"})
    cart = guest.get("/cart/")
    total = TOTAL_RE.search(cart.text).group(1)
    done = guest.post(
        "/checkout/", {"guest_name": "Bench", "guest_email": "", "expected_total": total}
    )
    assert done.status == 303, f"checkout answered {done.status}"
    order_path = done.location.replace(guest.origin, "")
    pages = {"online menu": "/", "online cart": "/cart/", "online pay page": order_path}
    if card:
        guest.get(order_path)
        paid = guest.post(
            order_path + "pay/",
            {"card_number": card, "pin": data.PIN, "amount": "", "attempt_key": uuid.uuid4().hex},
        )
        assert paid.status == 303, f"pay answered {paid.status}"
        pages["online confirmation"] = order_path
    return guest, pages


def enroll_kiosk(stack) -> dict[str, str]:
    """A kiosk at the demo store, enrolled with a one-time code over HTTP: its device cookie."""
    from kiosk import services
    from kiosk.models import Kiosk
    from ordering.models import Store

    kiosk = Kiosk.objects.create(
        name="Bench kiosk", store=Store.objects.first(), terminal_id=f"k-{uuid.uuid4().hex[:8]}"
    )
    _, code = services.create_enrollment_code(kiosk=kiosk)
    guest = stack.guest()
    guest.get("/kiosk/enroll/")
    response = guest.post("/kiosk/enroll/", {"code": code})
    assert response.status == 303, f"enroll answered {response.status}"
    return {k: v for k, v in guest.cookies.items() if k == services.COOKIE_NAME}


def kiosk_guest(stack, device: dict[str, str], card: str | None = None):
    """A kiosk visit with an item in the cart, an order on the pay page and a card entered."""
    guest = stack.guest()
    guest.cookies.update(device)
    guest.get("/kiosk/")
    start = guest.post("/kiosk/start/", {})
    base = GUEST_PATH_RE.search(start.location).group(1)
    menu = guest.get(base + "menu/")
    item = ITEM_RE.search(menu.text).group(1)
    guest.post(base + "cart/add/", {"item": item, "quantity": "1"})
    cart = guest.get(base + "cart/")
    total = TOTAL_RE.search(cart.text).group(1)
    guest.post(base + "checkout/", {"expected_total": total})
    pages = {
        "kiosk attract": "/kiosk/",
        "kiosk menu": base + "menu/",
        "kiosk cart": base + "cart/",
        "kiosk pay": base + "pay/",
        "kiosk balance": base + "balance/",
    }
    if card:
        guest.post(base + "pay/card/", {"card_number": card})
        pages["kiosk PIN"] = base + "pay/pin/"
    return guest, pages


def run(stack, cfg) -> dict:
    cards = data.create_cards(stack, 2, "1000.00")
    weights: dict[str, dict] = {}
    errors: list[str] = []
    try:
        guest, pages = online_guest(stack, card=cards[0])
        for name, path in pages.items():
            weights[name] = weigh(guest, path)
    except Exception as exc:  # noqa: BLE001 - reported, the kiosk still gets measured
        errors.append(f"online: {type(exc).__name__}: {exc}")
    device: dict[str, str] = {}
    try:
        device = enroll_kiosk(stack)
        guest, pages = kiosk_guest(stack, device, card=cards[1])
        for name, path in pages.items():
            weights[name] = weigh(guest, path)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"kiosk: {type(exc).__name__}: {exc}")

    timings = _load(stack, device, cfg.e_seconds)
    measured = [w for w in weights.values() if "bytes" in w]
    worst = {
        "bytes": max((w["bytes"] for w in measured), default=0),
        "requests": max((w["requests"] for w in measured), default=0),
        "third_party_origins": sum(len(w["third_party_origins"]) for w in measured),
    }
    p95 = timings["p95_ms"]
    return {
        "pages": weights,
        "worst": worst,
        "load": timings,
        "errors": errors,
        "goal": {"bytes_max": 100 * 1024, "requests_max": 6, "third_party_origins": 0},
        "met": {
            "bytes": bool(measured) and worst["bytes"] <= 100 * 1024,
            "requests": bool(measured) and worst["requests"] <= 6,
            "third_party": bool(measured) and worst["third_party_origins"] == 0,
            "all_pages": not errors and all("bytes" in w for w in weights.values()),
        },
        "p95_ms": p95,
    }


def _load(stack, device: dict[str, str], seconds: float) -> dict:
    """GET every guest page from 32 guests at once; latency per page."""

    def make_state(i: int):
        guest, pages = online_guest(stack)
        if device:
            try:
                kiosk, kiosk_pages = kiosk_guest(stack, device)
                kiosk_list = [(name, kiosk, path) for name, path in kiosk_pages.items()]
            except Exception:  # noqa: BLE001 - the kiosk is optional here, reported above
                kiosk_list = []
        else:
            kiosk_list = []
        return {
            "pages": [(name, guest, path) for name, path in pages.items()] + kiosk_list,
            "next": i,
        }

    def step(state) -> None:
        name, guest, path = state["pages"][state["next"] % len(state["pages"])]
        state["next"] += 1
        response = guest.get(path)
        if response.status != 200:
            raise RuntimeError(f"{name}: {response.status}")
        return name, response.seconds * 1000

    result = load.run(GUESTS, make_state, step, seconds=seconds, warmup=min(2.0, seconds / 5))
    per_page: dict[str, list[float]] = {}
    for name, ms in result.tags:
        per_page.setdefault(name, []).append(ms)
    every = [ms for _, ms in result.tags]
    return {
        "guests": GUESTS,
        "requests": result.completed,
        "errors": result.errors,
        "error_samples": result.error_samples,
        "rate": round(result.rate, 1),
        "p50_ms": round(load.percentile(every, 50), 1),
        "p95_ms": round(load.percentile(every, 95), 1),
        "p95_ms_by_page": {
            name: round(load.percentile(values, 95), 1) for name, values in sorted(per_page.items())
        },
    }
