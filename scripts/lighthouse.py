"""`make lighthouse`: Lighthouse's four scores for every guest page, mobile and desktop, against
gunicorn alone with the production configuration (scripts/guest_stack.py, `production=True`).

Lighthouse (npm, installed into var/node/ by scripts/install-lighthouse.sh) drives Debian's
Chromium (CHROME_PATH). Each page is prepared as bench scenario E prepares it (a cart, an order,
a paid order, a kiosk visit: bench/scenarios/e_pages.py) just before its runs, and Lighthouse is
given that guest's cookies and the `X-Forwarded-Proto: https` the TLS proxy would add. Prints
performance / accessibility / best practices / SEO per page and form factor, and what cost points;
the reports go to var/lighthouse/. Performance on "mobile" (4× CPU slowdown, simulated) is
sensitive to whatever else the machine runs: measure on a quiet machine (`uptime`).

    .venv/bin/python scripts/lighthouse.py [--only kiosk|online] [--form-factor mobile|desktop]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guest_stack import ROOT, GuestStack  # noqa: E402

LIGHTHOUSE = ROOT / "var" / "node" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "var" / "lighthouse"
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
SHORT = {"performance": "perf", "accessibility": "a11y", "best-practices": "bp", "seo": "seo"}


def online_pages(stack):
    """(name, prepare): prepare() gives the path and the cookies of a guest standing there."""
    from bench.scenarios.e_pages import online_guest

    def menu():
        return "/", {}

    def order_page(name):
        def prepare():
            guest, pages = online_guest(stack)
            return pages[name], dict(guest.cookies)

        return prepare

    def receipt():
        guest, pages = online_guest(stack, card=stack.new_card("100.00"))
        return pages["online confirmation"], dict(guest.cookies)

    def balance():
        return "/balance/", {}

    return [
        ("online menu", menu),
        ("online cart", order_page("online cart")),
        ("online pay", order_page("online pay page")),
        ("online receipt", receipt),
        ("online balance", balance),
    ]


def kiosk_pages(stack):
    from bench.scenarios.e_pages import enroll_kiosk, kiosk_guest

    device = enroll_kiosk(stack)

    def visit(name, card=False):
        # A fresh visit for every page: an idle visit ends after a couple of minutes.
        def prepare():
            guest, pages = kiosk_guest(
                stack, device, card=stack.new_card("100.00") if card else None
            )
            return pages[name], dict(guest.cookies)

        return prepare

    return [
        ("kiosk attract", lambda: ("/kiosk/", dict(device))),
        ("kiosk menu", visit("kiosk menu")),
        ("kiosk cart", visit("kiosk cart")),
        ("kiosk pay", visit("kiosk pay")),
        ("kiosk PIN", visit("kiosk PIN", card=True)),
        ("kiosk balance", visit("kiosk balance")),
    ]


def run_lighthouse(url: str, cookies: dict, form_factor: str, report: Path) -> dict:
    headers = {"X-Forwarded-Proto": "https"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={report}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        f"--extra-headers={json.dumps(headers)}",
    ]
    if form_factor == "desktop":
        command.append("--preset=desktop")
    done = subprocess.run(
        command,
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode or not report.exists():
        if "(Status code: 404)" in done.stderr:
            raise PageMissingError("not there yet (404)")
        raise RuntimeError(
            done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        )
    return json.loads(report.read_text())


class PageMissingError(RuntimeError):
    """The page answers 404: not built yet (the online balance page before issue 15's part)."""


def measure(url: str, cookies: dict, form_factor: str, report: Path) -> dict:
    """One Lighthouse run, run again once if Chromium's trace failed (NO_NAVSTART and the like
    happen on a busy machine)."""
    try:
        return run_lighthouse(url, cookies, form_factor, report)
    except PageMissingError:
        raise
    except RuntimeError:
        return run_lighthouse(url, cookies, form_factor, report)


def summarise(lhr: dict) -> tuple[dict[str, int], list[str]]:
    """The four scores (0-100) and the audits that cost points (category: audit id)."""
    scores, lost = {}, []
    for name in CATEGORIES:
        category = lhr["categories"][name]
        scores[name] = round((category["score"] or 0) * 100)
        for ref in category["auditRefs"]:
            audit = lhr["audits"][ref["id"]]
            if ref.get("weight") and audit.get("score") is not None and audit["score"] < 1:
                lost.append(f"{SHORT[name]}: {ref['id']}")
    return scores, lost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["kiosk", "online"], action="append")
    parser.add_argument("--form-factor", choices=["mobile", "desktop"], action="append")
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        print("Lighthouse is missing: bash scripts/install-lighthouse.sh")
        return 1
    surfaces = args.only or ["online", "kiosk"]
    form_factors = args.form_factor or ["mobile", "desktop"]
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    with GuestStack("lighthouse", production=True) as stack:
        pages = []
        if "online" in surfaces:
            pages += online_pages(stack)
        if "kiosk" in surfaces:
            pages += kiosk_pages(stack)
        print(f"{'page':<16} {'form':<8} perf a11y   bp  seo  lost points")
        for name, prepare in pages:
            for form_factor in form_factors:
                slug = name.replace(" ", "-").lower()
                try:
                    path, cookies = prepare()
                    lhr = measure(
                        stack.url + path, cookies, form_factor, OUT / f"{slug}-{form_factor}.json"
                    )
                except Exception as exc:  # noqa: BLE001 - the other pages still get measured
                    print(f"{name:<16} {form_factor:<8} not measured: {exc}")
                    continue
                if lhr["finalDisplayedUrl"].rstrip("/") != (stack.url + path).rstrip("/"):
                    print(f"{name:<16} {form_factor:<8} ended on {lhr['finalDisplayedUrl']}")
                status = lhr["audits"].get("http-status-code", {})
                if status.get("score") == 0:
                    print(f"{name:<16} {form_factor:<8} not there ({status.get('displayValue')})")
                    continue
                scores, lost = summarise(lhr)
                results.append({"page": name, "form_factor": form_factor, **scores, "lost": lost})
                print(
                    f"{name:<16} {form_factor:<8} "
                    + " ".join(f"{scores[c]:>4}" for c in CATEGORIES)
                    + f"  {', '.join(lost)}"
                )
    (OUT / "summary.json").write_text(json.dumps(results, indent=2))
    print(f"reports in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
