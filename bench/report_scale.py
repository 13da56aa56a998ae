"""Scenario G's rows in the bench table, and its plans printed after it (bench/report.py)."""

from __future__ import annotations


def _mark(ok: bool) -> str:
    return "yes" if ok else "NO"


def _shape(plans: list[dict]) -> str:
    """The distinct scans of a page's or query's statements, full scans of big tables first."""
    scans: list[str] = []
    for plan in plans:
        for scan in plan.get("scans", []):
            if scan not in scans:
                scans.append(scan)
    scans.sort(key=lambda scan: not scan.startswith("FULL"))
    return "; ".join(scans) or "-"


def scale_rows(add, g: dict) -> None:
    """One row per page (p50 against 150 ms for lists) and per periodic query (against 5 ms)."""
    if "pages" not in g:
        if g:
            add(("G", "error", g.get("error", "?")[:60], "", "NO"))
        return
    rows = g["rows"]
    add(
        (
            "G",
            "rows: transactions / exchanges / orders / tenders",
            " / ".join(f"{rows[t]:,}" for t in rows),
            ">= 2 M / 2 M / 1 M / 1 M",
            "",
        )
    )
    goal = g["goal"]
    for name, page in g["pages"].items():
        if page["status"] != 200:
            add(("G", name, f"HTTP {page['status']}", "200", "NO"))
            continue
        database_ms = sum(plan.get("ms", 0) for plan in page.get("plans", []))
        value = (
            f"{page['p50_ms']:.0f} ms (SQL {database_ms:.1f}), {page['queries']} q, "
            f"{page['full_scans']} full"
        )
        if page["list"]:
            ok = page["p50_ms"] <= goal["list_p50_ms"]
            add(("G", name, value, f"<= {goal['list_p50_ms']} ms", _mark(ok)))
        else:
            add(("G", name, value, "report", ""))
    for name, query in g["periodic"].items():
        value = f"{query['p50_ms']:.1f} ms, {query['buffers']} buffers"
        if name.startswith("daily pass: "):
            add(("G", name, value, "report (once a day)", ""))
            continue
        ok = query["p50_ms"] <= goal["periodic_ms"] and not query["full_scans"]
        add(("G", name, value, f"<= {goal['periodic_ms']} ms, no full scan", _mark(ok)))


def plans_text(g: dict) -> str:
    """Every page's and periodic query's scans, as EXPLAIN showed them."""
    if "pages" not in g:
        return ""
    lines = [
        "G: plan shapes (EXPLAIN ANALYZE; rows each scan read; FULL = a sequential scan that read"
        " at least half of its big table)"
    ]
    for name, page in g["pages"].items():
        lines.append(f"  {name}: {_shape(page.get('plans', []))}")
    for name, query in g["periodic"].items():
        lines.append(f"  {name}: {_shape(query['plans'])}")
    return "\n".join(lines)
