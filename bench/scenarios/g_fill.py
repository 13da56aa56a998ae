"""G's data: a chain's year of traffic written by PostgreSQL itself (`generate_series`), in minutes.

`transactions` ledger rows over the last 365 days, ids in time order as in real traffic: every
odd id is an order's redeem (kiosk or online, at one of 40 stores), with its order and its
tender; the even ids are balance inquiries, staff loads and, for 1 % of the orders, the staff
void that refunded them. One exchange per transaction plus a token exchange every 500. Outcomes
as a year brings them: mostly approved, declines, rejections, a few hundred needing attention,
a handful in flight now. 200,000 cards, so card hashes and last fours repeat. Pseudo-random but
deterministic (`hashint8` of the id), so a refill gives the same rows.
"""

from __future__ import annotations

import time

STORES = 40
CARDS = 200_000
STORE_ID_BASE = 100_000  # the chain's ordering_store ids: STORE_ID_BASE + 1 … + STORES
DAY_SECONDS = 86_400


def h(column: str, salt: int) -> str:
    """A pseudo-random number in [0, 1) from an integer column, the same on every fill."""
    return f"((hashint8({column}::bigint * 7 + {salt}) & 2147483647) / 2147483648.0)"


# Each order redeem (odd g) whose next even row is its refund (void) is "voided".
REFUNDED = f"{h('(g + 1)', 1)} < 0.01"


def _transactions_sql(n: int) -> str:
    g_store = f"(1 + floor(power({h('g - (1 - g % 2)', 4)}, 1.5) * {STORES})::int)"
    return f"""
INSERT INTO ecard_integration_ecardtransaction (
    id, request_id, kind, state, source, store_id, terminal_id, caller_reference, caller_intent,
    card_ciphertext, card_hash, card_last4, amount, currency, original_id, created_at,
    first_sent_at, replay_deadline, next_attempt_at, completed_at, attempts, request_sha256,
    response_code, response_message, approval_code, processor_transaction_id, amount_applied,
    balance, error_code, attention_reason, reason)
SELECT g, request_id, kind, state, source, store_id,
    CASE source WHEN 'online' THEN 'online' WHEN 'kiosk' THEN 'kiosk-' || store_no ELSE 'staff' END,
    CASE WHEN g % 2 = 1 THEN 'B' || lpad(((g + 1) / 2)::text, 11, '0') ELSE '' END,
    CASE WHEN g % 2 = 0 THEN 'pending'
         WHEN state IN ('approved', 'voided') THEN 'keep'
         WHEN state IN ('declined', 'rejected') THEN 'gave_up' ELSE 'pending' END,
    '\\x00'::bytea, encode(sha256(convert_to('card' || card, 'UTF8')), 'hex'),
    lpad((card % 10000)::text, 4, '0'),
    CASE kind WHEN 'redeem' THEN round((2 + {h("g", 5)} * 38)::numeric, 2)
              WHEN 'load' THEN (25 * (1 + floor({h("g", 5)} * 4)))::numeric END,
    'USD', CASE WHEN kind = 'void-redeem' THEN g - 1 END, created_at,
    created_at + interval '5 ms', created_at + interval '115 minutes',
    CASE WHEN state = 'unknown' THEN now() - interval '5 seconds' END,
    CASE WHEN state IN ('unknown', 'needs_attention') THEN NULL
         ELSE created_at + interval '300 ms' END,
    1, md5(g::text) || md5(request_id),
    CASE state WHEN 'approved' THEN '00' WHEN 'voided' THEN '00' WHEN 'declined' THEN
        (ARRAY['51', '05', '14', '41'])[1 + floor({h("g", 7)} * 4)::int] ELSE '' END,
    CASE state WHEN 'approved' THEN 'Approved' WHEN 'voided' THEN 'Approved'
               WHEN 'declined' THEN 'Declined' ELSE '' END,
    CASE WHEN state IN ('approved', 'voided') THEN upper(substr(md5(request_id), 1, 6)) ELSE '' END,
    CASE WHEN state IN ('approved', 'voided', 'declined') THEN 'P' || g ELSE '' END,
    CASE WHEN kind = 'redeem' AND state IN ('approved', 'voided')
         THEN round((2 + {h("g", 5)} * 38)::numeric, 2) END,
    CASE WHEN state IN ('approved', 'voided', 'declined')
         THEN round(({h("card", 8)} * 200)::numeric, 2) END,
    CASE state WHEN 'rejected' THEN 'invalid_request' WHEN 'needs_attention' THEN 'read_timeout'
               ELSE '' END,
    CASE state WHEN 'needs_attention'
         THEN 'Replay deadline passed; the blind void was not answered.' ELSE '' END,
    CASE source WHEN 'staff' THEN 'Bench: a chain''s year' ELSE '' END
FROM (
    SELECT g, store_no, 'chain-' || lpad(store_no::text, 3, '0') AS store_id,
        1 + (g * 7919) % {CARDS} AS card,
        'scale-' || lpad(g::text, 10, '0') || '-' || substr(md5(g::text), 1, 18) AS request_id,
        now() - interval '365 days' + (g::float8 / {n}) * interval '365 days'
            + {h("g", 6)} * interval '60 seconds' AS created_at,
        kind, source,
        CASE
            WHEN g > {n} - 60 AND g % 2 = 1 THEN 'unknown'
            WHEN g % 2 = 0 THEN CASE WHEN {h("g", 2)} < 0.97 THEN 'approved' ELSE 'declined' END
            WHEN {REFUNDED} THEN 'voided'
            WHEN {h("g", 2)} < 0.86 THEN 'approved'
            WHEN {h("g", 2)} < 0.96 THEN 'declined'
            WHEN {h("g", 2)} < 0.985 THEN 'rejected'
            WHEN {h("g", 2)} < 0.9853 THEN 'needs_attention'
            ELSE 'approved'
        END AS state
    FROM (
        SELECT g, {g_store} AS store_no,
            CASE WHEN g % 2 = 1 THEN 'redeem'
                 WHEN {h("g", 1)} < 0.01 THEN 'void-redeem'
                 WHEN {h("g", 1)} < 0.12 THEN 'load'
                 ELSE 'balance-inquiry' END AS kind,
            CASE WHEN g % 2 = 0 AND {h("g", 1)} < 0.12 THEN 'staff'
                 WHEN {h("g", 3)} < 0.55 THEN 'kiosk' ELSE 'online' END AS source
        FROM generate_series(1::bigint, {n}) AS g
    ) AS shaped
) AS rows
"""  # noqa: S608 - only our own integer constants are formatted in


def _exchanges_sql(n: int) -> str:
    return f"""
INSERT INTO ecard_integration_ecardexchange (
    id, transaction_id, kind, endpoint, request_id, url, started_at, duration_ms, request_headers,
    request_body, request_sha256, response_status, response_headers, response_body, error,
    idempotent_replay, is_reconciliation)
SELECT t.id, t.id, 'transaction', t.kind, t.request_id,
    'https://sandbox.ecard.example/api/transaction/v1/' || t.kind, t.first_sent_at,
    80 + (t.id * 37) % 400,
    jsonb_build_object('Authorization', '[redacted]', 'X-Request-Id', t.request_id,
        'Content-Type', 'application/json', 'Accept', 'application/json'),
    json_build_object('data', json_build_object('type', t.kind, 'attributes',
        json_build_object('cardNumber', '[card ' || t.card_last4 || ']', 'amount', t.amount,
            'storeId', t.store_id, 'terminalId', t.terminal_id)))::text,
    t.request_sha256,
    CASE t.state WHEN 'rejected' THEN 400 WHEN 'needs_attention' THEN NULL
                 WHEN 'unknown' THEN 503 ELSE 200 END,
    CASE WHEN t.state = 'needs_attention' THEN '{{}}'::jsonb
         ELSE jsonb_build_object('Content-Type', 'application/json', 'X-Request-Id', t.request_id)
    END,
    CASE WHEN t.state = 'needs_attention' THEN ''
         ELSE json_build_object('data', json_build_object('responseCode', t.response_code,
             'approvalCode', t.approval_code, 'balance', t.balance))::text END,
    CASE t.state WHEN 'needs_attention' THEN 'read timeout' ELSE '' END,
    false, t.state = 'needs_attention'
FROM ecard_integration_ecardtransaction AS t;

INSERT INTO ecard_integration_ecardexchange (
    id, transaction_id, kind, endpoint, request_id, url, started_at, duration_ms, request_headers,
    request_body, request_sha256, response_status, response_headers, response_body, error,
    idempotent_replay, is_reconciliation)
SELECT {n} + t.id / 500, NULL, 'token', 'token', '',
    'https://sandbox.ecard.example/api/reporting/v1/auth/token', t.created_at - interval '1 s', 120,
    '{{"Authorization": "[redacted]"}}'::jsonb, 'grant_type=client_credentials', '', 200,
    '{{"Content-Type": "application/json"}}'::jsonb,
    '{{"access_token": "[redacted]", "expires_in": 3600}}', '', false, false
FROM ecard_integration_ecardtransaction AS t WHERE t.id % 500 = 0;
"""  # noqa: S608 - only our own integer constants are formatted in


ORDERS_SQL = f"""
INSERT INTO ordering_store (id, name, ecard_store_id, online_terminal_id, takes_online_orders,
    sort_order, logo, primary_color, accent_color, attract_image)
SELECT {STORE_ID_BASE} + s, 'Chain store ' || s, 'chain-' || lpad(s::text, 3, '0'), 'online',
    false, 100 + s, '', '#0b3d91', '#ffb300', ''
FROM generate_series(1, {STORES}) AS s;

INSERT INTO ordering_order (id, number, access_token, store_id, status, cancel_reason,
    guest_name, guest_email, total, created_at, updated_at, paid_at, cancelled_at,
    receipt_sent_at, language)
SELECT (t.id + 1) / 2, t.caller_reference, md5('token' || t.id) || md5(t.request_id),
    {STORE_ID_BASE} + substr(t.store_id, 7)::int,
    CASE t.state WHEN 'approved' THEN 'paid' WHEN 'voided' THEN 'refunded'
                 WHEN 'declined' THEN 'cancelled' WHEN 'rejected' THEN 'cancelled'
                 ELSE 'payment_pending' END,
    CASE WHEN t.state IN ('declined', 'rejected') THEN 'abandoned' ELSE '' END,
    (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret',
           'Dennis'])[1 + t.id % 10] || ' ' || chr(65 + (t.id / 10 % 26)::int) || '.',
    CASE WHEN t.id % 3 = 0 THEN 'guest' || t.id || '@example.com' ELSE '' END,
    t.amount, t.created_at - interval '40 seconds', t.created_at + interval '1 second',
    CASE WHEN t.state IN ('approved', 'voided') THEN t.completed_at END,
    CASE WHEN t.state IN ('declined', 'rejected') THEN t.created_at + interval '15 minutes' END,
    CASE WHEN t.state IN ('approved', 'voided') AND t.id % 3 = 0 THEN t.completed_at END,
    CASE WHEN t.id % 7 = 0 THEN 'es' ELSE 'en' END
FROM ecard_integration_ecardtransaction AS t WHERE t.id % 2 = 1;

INSERT INTO ordering_tender (id, order_id, transaction_id, attempt_key, amount, status,
    card_last4, card_hash, created_at, released_at)
SELECT (t.id + 1) / 2, (t.id + 1) / 2, t.id, md5('attempt' || t.id), t.amount,
    CASE t.state WHEN 'rejected' THEN 'failed' ELSE t.state END,
    t.card_last4, t.card_hash, t.created_at,
    CASE WHEN t.state IN ('declined', 'rejected') THEN t.created_at + interval '15 minutes' END
FROM ecard_integration_ecardtransaction AS t WHERE t.id % 2 = 1;
"""  # noqa: S608 - only our own integer constants are formatted in

SEQUENCES_SQL = """
SELECT setval(pg_get_serial_sequence('ecard_integration_ecardtransaction', 'id'),
              (SELECT max(id) FROM ecard_integration_ecardtransaction));
SELECT setval(pg_get_serial_sequence('ecard_integration_ecardexchange', 'id'),
              (SELECT max(id) FROM ecard_integration_ecardexchange));
SELECT setval(pg_get_serial_sequence('ordering_order', 'id'),
              (SELECT max(id) FROM ordering_order));
SELECT setval(pg_get_serial_sequence('ordering_tender', 'id'),
              (SELECT max(id) FROM ordering_tender));
SELECT setval(pg_get_serial_sequence('ordering_store', 'id'),
              (SELECT max(id) FROM ordering_store));
"""

TABLES = (
    "ecard_integration_ecardtransaction",
    "ecard_integration_ecardexchange",
    "ordering_order",
    "ordering_tender",
)


def counts(conn) -> dict[str, int]:
    """Rows per table (exact: once per run, outside any timing)."""
    return {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in TABLES
    }


def filled(conn, transactions: int) -> bool:
    return counts(conn)["ecard_integration_ecardtransaction"] >= transactions


def fill(conn, transactions: int) -> dict[str, float]:
    """Write the year into an empty, migrated database; seconds per step."""
    seconds: dict[str, float] = {}
    steps = (
        ("transactions", _transactions_sql(transactions)),
        ("exchanges", _exchanges_sql(transactions)),
        ("orders and tenders", ORDERS_SQL),
        ("sequences", SEQUENCES_SQL),
    )
    for name, sql in steps:
        began = time.monotonic()
        with conn.transaction():
            conn.execute(sql)
        seconds[name] = round(time.monotonic() - began, 1)
        print(f"    G fill: {name} in {seconds[name]:.0f} s", flush=True)
    began = time.monotonic()
    for table in TABLES:
        # As autovacuum would have by now: statistics and the visibility map (index-only scans).
        conn.execute(f"VACUUM ANALYZE {table}")
    seconds["vacuum analyze"] = round(time.monotonic() - began, 1)
    return seconds
