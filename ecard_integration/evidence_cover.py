"""The evidence pack's cover: one page for eCard's reviewer, beside the CSV, JSON and HTML.

The integration, the eCard it ran against, transaction counts by type, the date range, the test
cards, how the scenarios and the contract probe went, and the build (its fingerprint: what eCard
certifies). `cover.txt` reads in any text viewer; `cover.html` prints on one page.
"""

from collections import Counter

from django.template.loader import render_to_string

from ecard_integration.fingerprint import current_build

INTEGRATION = (
    "Gift cards: guest-facing eCard redemption at self-service kiosks and in online ordering "
    "(PIN on every guest redemption and balance check), staff loads, voids and lookups in the "
    "Django admin"
)


def cover(pack, *, required: tuple[str, ...], probe_lines: list | None = None) -> dict:
    """The cover's facts, from an `EvidencePack`."""
    transactions = pack.transactions
    counts = Counter(tx["transaction_type"] for tx in transactions)
    order = [*required, *sorted(set(counts) - set(required))]
    moments = sorted(
        moment
        for tx in transactions
        for moment in (tx["created_at_utc"], tx["completed_at_utc"])
        if moment
    )
    cards = Counter(tx["card_number"] for tx in transactions)
    passed = sum(1 for s in pack.scenarios if s["passed"])
    build = current_build()
    facts = {
        "integration": INTEGRATION,
        "ecard": pack.environment["ecard_base_url"]
        + (" (our local sandbox)" if pack.environment["local_sandbox"] else ""),
        "generated_at_utc": pack.generated_at.isoformat(timespec="seconds"),
        "date_range_utc": f"{moments[0]} to {moments[-1]}" if moments else "",
        "transactions": len(transactions),
        "counts_by_type": [(name, counts.get(name, 0)) for name in order],
        "test_cards": [f"{card} ({n} transactions)" for card, n in cards.most_common()],
        "card_numbers": "in full (sandbox test cards)"
        if pack.full_card_numbers
        else "masked to the last four digits",
        "scenarios": f"{passed} of {len(pack.scenarios)} passed" if pack.scenarios else "none",
        "missing_types": [name for name in required if not counts.get(name)],
        "build": build.fingerprint,
        "build_status": build.summary,
        "probe": _probe_summary(probe_lines),
    }
    return facts


def _probe_summary(lines) -> str:
    if not lines:
        return "not run with this pack"
    differs = [line.key for line in lines if line.verdict == "differs"]
    assumed = sum(1 for line in lines if line.verdict == "as assumed")
    text = f"{assumed} of {len(lines)} assumptions as assumed"
    return f"{text}; differs: {', '.join(differs)}" if differs else text


def cover_text(facts: dict) -> str:
    rows = [
        ("Integration", facts["integration"]),
        ("eCard", facts["ecard"]),
        ("Generated (UTC)", facts["generated_at_utc"]),
        ("Date range (UTC)", facts["date_range_utc"]),
        ("Transactions", str(facts["transactions"])),
        *((f"  {name}", str(count)) for name, count in facts["counts_by_type"]),
        ("Test cards", "; ".join(facts["test_cards"])),
        ("Card numbers", facts["card_numbers"]),
        ("Scenarios", facts["scenarios"]),
        ("Missing types", ", ".join(facts["missing_types"]) or "none"),
        ("Contract probe", facts["probe"]),
        ("Build", facts["build"]),
        ("", facts["build_status"]),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["eCard certification evidence: cover", ""]
    lines += [f"{label.ljust(width)}  {value}" for label, value in rows]
    lines += [
        "",
        "Files: evidence.html (every case and exchange, readable in a browser), evidence.csv",
        "(one row per HTTP exchange), evidence.json (everything, machine-readable), probe.txt",
        "and probe.json (the contract probe, when run).",
    ]
    return "\n".join(lines) + "\n"


def cover_html(facts: dict) -> str:
    return render_to_string("admin/ecard_integration/evidence_cover.html", {"cover": facts})
