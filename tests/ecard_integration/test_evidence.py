"""The evidence builder on ledger rows made over real HTTPS against the sandbox."""

import csv
import io
import json
import zipfile

import pytest

from ecard_integration import evidence, services
from ecard_integration.models import Source

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "73915046"


CARD_BALANCE = "30.00"  # of the `card` fixture (tests/conftest.py)


def test_masked_by_default_with_ecard_type_names(card):
    redeem = services.redeem(card_number=card, amount="10.00", pin=PIN, source=Source.KIOSK)
    declined = services.redeem(card_number=card, amount="99.00", pin=PIN, source=Source.KIOSK)
    void = services.void(original=redeem, source=Source.STAFF, reason='=HYPERLINK("x")')
    pack = evidence.build_evidence([void, declined, redeem])

    assert [t["transaction_type"] for t in pack.transactions] == [
        "Redeem",
        "Declined Redeem",
        "Void Redeem",
    ]
    assert pack.types == {"Redeem", "Declined Redeem", "Void Redeem"}
    for name, text in pack.files().items():
        assert card not in text, name
        assert PIN not in text, name
    assert pack.transactions[0]["card_number"] == f"•••• {card[-4:]}"
    assert pack.transactions[2]["original_request_id"] == redeem.request_id
    assert pack.transactions[2]["reason"] == '=HYPERLINK("x")'
    json.loads(pack.as_json())
    assert pack.passed  # no expectations, nothing failed


def test_full_card_numbers_go_back_into_the_request_body_only_in_the_evidence(card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    pack = evidence.build_evidence([row], full_card_numbers=True)
    # The first attempt may be refused with a stale token (401) and sent again: same body.
    for exchange in pack.transactions[0]["exchanges"]:
        body = json.loads(exchange["request"]["body"])
        assert body["data"]["attributes"]["card_number"] == card
    for stored in row.exchanges.all():
        assert card not in stored.request_body  # the ledger stays masked


def test_csv_has_one_row_per_exchange_and_no_formulas(card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF, reason="+1 bonus")
    pack = evidence.build_evidence([row])
    rows = list(csv.DictReader(io.StringIO(pack.as_csv())))
    assert len(rows) == row.exchanges.count()
    assert {r["transaction_type"] for r in rows} == {"Load"}
    assert {r["request_method"] for r in rows} == {"POST"}
    assert rows[-1]["response_status"] == "200"
    assert rows[-1]["reason"] == "'+1 bonus"  # shown as text, never run as a formula
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "@"))


def test_zip_and_files_hold_the_three_formats(card, tmp_path):
    row = services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    pack = evidence.build_evidence([row])
    written = evidence.write_pack(pack, tmp_path / "out")
    assert sorted(p.name for p in written) == [
        "cover.html",
        "cover.txt",
        "evidence.csv",
        "evidence.html",
        "evidence.json",
    ]
    archive = zipfile.ZipFile(io.BytesIO(evidence.pack_zip(pack)))
    assert (
        archive.read("evidence.json").decode() == (tmp_path / "out" / "evidence.json").read_text()
    )
    assert "Balance Inquiry" in archive.read("evidence.html").decode()
