"""The operations dashboard (/admin/operations/, linked from the admin's first page): today and the
last 7 days by store, what waits now, and eCard's latency and failures, each number a link to the
admin list it counts. The numbers come from `ecard_integration.dashboard` (three statements); this
module only words them, links them and has `charts` draw them."""

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import date_format

from ecard_integration import charts, dashboard, wire
from ecard_integration.admin.display import age_text
from ecard_integration.models import Kind, State

TRANSACTIONS = "admin:ecard_integration_ecardtransaction_changelist"
EXCHANGES = "admin:ecard_integration_ecardexchange_changelist"
NO_STORE = "(no store)"


def _link(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode(params)}"


def _created(start, end) -> dict:
    return {"created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()}


def _started(start, end) -> dict:
    return {"started_at__gte": start.isoformat(), "started_at__lt": end.isoformat()}


def _money(value) -> str:
    return f"${value:,.2f}"


def _ms(value) -> str:
    return "" if value is None else f"{value:,} ms"


def _percent(rate) -> str:
    return "" if rate is None else f"{rate:.1%}"


def _store_params(store: str | None) -> dict:
    return {} if store is None else {"store_id": store}


def _tally_cells(tally: dashboard.Tally, store: str | None, start, end) -> dict:
    """A tally's numbers, each with the list behind it."""
    place = {**_store_params(store), **_created(start, end)}
    redemptions = _link(TRANSACTIONS, kind=Kind.REDEEM, state=State.APPROVED, **place)
    return {
        "redemptions": (f"{tally.redemptions:,}", redemptions),
        "value": (_money(tally.value), redemptions),
        "declined": (f"{tally.declined:,}", _link(TRANSACTIONS, state=State.DECLINED, **place)),
        "pin_blocks": (
            f"{tally.pin_blocks:,}",
            _link(
                TRANSACTIONS,
                state=State.DECLINED,
                response_code__in=",".join(dashboard.PIN_BLOCK_CODES),
                **place,
            ),
        ),
    }


def _waiting_cell(waiting: dashboard.Waiting | None, store: str | None, ops, **state) -> dict:
    waiting = waiting or dashboard.Waiting()
    oldest = (ops.now - waiting.oldest).total_seconds() if waiting.oldest else None
    return {
        "count": (f"{waiting.count:,}", _link(TRANSACTIONS, **state, **_store_params(store))),
        "oldest": age_text(oldest),
    }


def _store_row(ops, store: str | None, label: str) -> dict:
    today, week = ops.bounds[-1], (ops.bounds[0][0], ops.bounds[-1][1])
    awaiting = ops.awaiting.get(store) if store is not None else _merged(ops.awaiting)
    attention = ops.attention.get(store) if store is not None else _merged(ops.attention)
    return {
        "label": label,
        "today": _tally_cells(ops.tally(store=store, days=ops.today), store, *today),
        "week": _tally_cells(ops.tally(store=store), store, *week),
        "awaiting": _waiting_cell(
            awaiting, store, ops, state__in=",".join(dashboard.AWAITING_STATES)
        ),
        "attention": _waiting_cell(attention, store, ops, state=State.NEEDS_ATTENTION),
    }


def _merged(by_store: dict) -> dashboard.Waiting:
    total = dashboard.Waiting()
    for waiting in by_store.values():
        total.add(waiting.count, waiting.oldest)
    return total


def _decline_rows(ops) -> list[dict]:
    """Declines by store and reason, the week's and today's, each linked."""
    rows = []
    today, week = ops.bounds[-1], (ops.bounds[0][0], ops.bounds[-1][1])
    for store in ops.stores:
        week_tally = ops.tally(store=store)
        today_tally = ops.tally(store=store, days=ops.today)
        for code, count in sorted(week_tally.declines.items(), key=lambda item: -item[1]):
            params = {"state": State.DECLINED, "response_code": code, "store_id": store}
            rows.append(
                {
                    "store": store or NO_STORE,
                    "reason": wire.describe_code(code) if code else "No code",
                    "code": code,
                    "today": (
                        f"{today_tally.declines.get(code, 0):,}",
                        _link(TRANSACTIONS, **params, **_created(*today)),
                    ),
                    "week": (f"{count:,}", _link(TRANSACTIONS, **params, **_created(*week))),
                }
            )
    return rows


def _latency_row(label: str, latency: dashboard.Latency, start, end) -> dict:
    span = _started(start, end)
    return {
        "label": label,
        "exchanges": (f"{latency.exchanges:,}", _link(EXCHANGES, **span)),
        "no_answer": (
            f"{latency.no_answer:,}",
            _link(EXCHANGES, response_status__isnull="True", **span),
        ),
        "server_errors": (
            f"{latency.server_errors:,}",
            _link(EXCHANGES, response_status__gte="500", **span),
        ),
        "failure_rate": _percent(latency.failure_rate),
        "p50": _ms(latency.p50_ms),
        "p95": _ms(latency.p95_ms),
    }


def _charts(ops) -> list[str]:
    labels = [date_format(day, "D j") for day in ops.days]
    value_bars, decline_bars, latency_bars, failure_bars = [], [], [], []
    for n, (label, (start, end)) in enumerate(zip(labels, ops.bounds, strict=True)):
        tally = ops.tally(days=range(n, n + 1))
        cells = _tally_cells(tally, None, start, end)
        value_bars.append(
            charts.Group(
                label,
                [
                    charts.Bar(
                        float(tally.value), f"{label}: {_money(tally.value)}", cells["value"][1]
                    )
                ],
            )
        )
        decline_bars.append(
            charts.Group(
                label,
                [
                    charts.Bar(
                        tally.declined, f"{label}: {tally.declined} declines", cells["declined"][1]
                    )
                ],
            )
        )
        latency = ops.latency[n]
        day_exchanges = _link(EXCHANGES, **_started(start, end))
        latency_bars.append(
            charts.Group(
                label,
                [
                    charts.Bar(
                        latency.p50_ms or 0, f"{label}: p50 {_ms(latency.p50_ms)}", day_exchanges
                    ),
                    charts.Bar(
                        latency.p95_ms or 0, f"{label}: p95 {_ms(latency.p95_ms)}", day_exchanges
                    ),
                ],
            )
        )
        rate = latency.failure_rate or 0
        failure_bars.append(
            charts.Group(
                label, [charts.Bar(rate * 100, f"{label}: {_percent(rate)} failed", day_exchanges)]
            )
        )
    return [
        charts.bar_chart(
            value_bars, title="Redemptions by day ($)", value_text=lambda v: f"{v:,.0f}"
        ),
        charts.bar_chart(decline_bars, title="Declines by day"),
        charts.bar_chart(
            latency_bars,
            title="eCard latency by day (ms)",
            series=("p50", "p95"),
            value_text=lambda v: f"{v:,.0f}",
        ),
        charts.bar_chart(
            failure_bars, title="eCard failures by day (%)", value_text=lambda v: f"{v:.1f}"
        ),
    ]


def operations_view(request):
    """The dashboard, for staff who may see the ledger."""
    if not request.user.has_perm("ecard_integration.view_ecardtransaction"):
        raise PermissionDenied
    ops = dashboard.operations()
    today, week = ops.bounds[-1], (ops.bounds[0][0], ops.bounds[-1][1])
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "today": ops.days[-1],
        "first_day": ops.days[0],
        "stores": [_store_row(ops, store, store or NO_STORE) for store in ops.stores],
        "total": _store_row(ops, None, "All stores"),
        "declines": _decline_rows(ops),
        "latency": [
            _latency_row("Today", ops.latency[-1], *today),
            _latency_row("7 days", ops.week_latency, *week),
        ],
        "charts": _charts(ops),
    }
    return TemplateResponse(request, "admin/operations_dashboard.html", context)
