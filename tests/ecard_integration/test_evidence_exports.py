"""Evidence exports of a date range as jobs: the request, the worker's ZIP, progress, the download
and its permission, the audit, dead workers and retention; ledger rows made over real HTTPS."""

import csv
import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import connection
from django.db.models import F
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ecard_integration import exports, services, tasks
from ecard_integration.models import (
    EcardExchange,
    EcardTransaction,
    EvidenceExport,
    ExportState,
    Kind,
    Source,
)
from tests.factories import CLIENT_SECRET, make_staff

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "73915046"  # a canary: never in any export
CARD_BALANCE = "100.00"
ADD_URL = reverse("admin:ecard_integration_evidenceexport_add")
BEARER_VALUE = re.compile(r"Bearer\s+(?!\[redacted\]|error=|realm=)[A-Za-z0-9._~+/=-]+")
# The request: a session, the user, the INSERT, the admin log; never a read of the ledger.
REQUEST_BUDGET = 8


def job_url(job) -> str:
    return reverse("admin:ecard_integration_evidenceexport_change", args=[job.pk])


def download_url(job) -> str:
    return reverse("admin:ecard_integration_evidenceexport_download", args=[job.pk])


@pytest.fixture
def exporter(client):
    user = make_staff("exporter", "export_evidence", "view_ecardtransaction")
    client.force_login(user)
    return user


@pytest.fixture
def ledger(card):
    """A day's traffic on one card: a load, a redeem at store-1, a declined redeem and a balance
    inquiry at store-2, and a void; one redeem moved three days back, out of today's range."""
    rows = {
        "load": services.load(card_number=card, amount="10.00", source=Source.STAFF),
        "redeem": services.redeem(
            card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK, store_id="store-1"
        ),
        "declined": services.redeem(
            card_number=card, amount="900.00", pin=PIN, source=Source.ONLINE, store_id="store-2"
        ),
        "inquiry": services.balance_inquiry(
            card_number=card, pin=PIN, source=Source.KIOSK, store_id="store-2"
        ),
    }
    rows["void"] = services.void(original=rows["redeem"], source=Source.STAFF, reason="test")
    old = services.redeem(card_number=card, amount="1.00", pin=PIN, source=Source.KIOSK)
    EcardTransaction.objects.filter(pk=old.pk).update(created_at=Now() - timedelta(days=3))
    rows["old"] = old
    return rows


def ask(client, **data):
    today = timezone.localdate().isoformat()
    return client.post(ADD_URL, {"date_from": today, "date_to": today, **data})


def members(job) -> dict[str, str]:
    job.refresh_from_db()
    with zipfile.ZipFile(exports.file_path(job)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def test_the_request_returns_at_once_with_a_queued_job_and_an_audit_entry(client, exporter, ledger):
    with CaptureQueriesContext(connection) as captured:
        response = ask(client)
    job = EvidenceExport.objects.get()
    assert response.status_code == 303
    assert response["Location"] == job_url(job)
    tables = " ".join(query["sql"] for query in captured.captured_queries)
    assert "ecard_integration_ecardtransaction" not in tables  # nothing of the range read
    assert len(captured.captured_queries) <= REQUEST_BUDGET, tables
    assert (job.state, job.rows_expected, job.requested_by) == (ExportState.QUEUED, None, exporter)
    assert exports.file_path(job) is None
    entry = LogEntry.objects.get(action_flag=ADDITION, object_id=str(job.pk))
    assert entry.user == exporter
    assert entry.change_message.startswith("Evidence export requested:")
    page = client.get(job_url(job)).content.decode()
    assert "Waiting for a worker" in page
    assert '<meta http-equiv="refresh" content="3">' in page


def test_an_impossible_range_is_refused_in_the_form(client, exporter):
    today = timezone.localdate()
    response = client.post(
        ADD_URL,
        {"date_from": today.isoformat(), "date_to": (today - timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 200
    assert "The last day comes before the first." in response.content.decode()
    response = client.post(
        ADD_URL,
        {"date_from": "2025-01-01", "date_to": "2026-12-31"},
    )
    assert "at most 366 days" in response.content.decode()
    assert not EvidenceExport.objects.exists()


def test_the_worker_writes_the_zip_the_range_holds_without_pin_token_secret_or_card(
    client, exporter, ledger, card
):
    ask(client)
    job = EvidenceExport.objects.get()
    assert tasks.write_evidence_export(job.pk) == ExportState.DONE
    job.refresh_from_db()
    today = [row for name, row in ledger.items() if name != "old"]
    assert job.state == ExportState.DONE
    assert job.rows_expected == job.rows_written == len(today)
    assert job.progress_percent == 100
    files = members(job)
    assert sorted(files) == ["evidence.csv", "evidence.json"]
    document = json.loads(files["evidence.json"])
    assert document["full_card_numbers"] is False
    assert [tx["request_id"] for tx in document["transactions"]] == [r.request_id for r in today]
    assert document["transactions"][1]["card_number"] == f"•••• {card[-4:]}"
    rows = list(csv.DictReader(io.StringIO(files["evidence.csv"])))
    exchanges = EcardExchange.objects.filter(transaction__in=today).count()
    assert len(rows) == exchanges
    assert {row["transaction_type"] for row in rows} == {
        "Load",
        "Redeem",
        "Declined Redeem",
        "Balance Inquiry",
        "Void Redeem",
    }
    for name, text in files.items():
        assert card not in text, name
        assert PIN not in text, name
        assert CLIENT_SECRET not in text, name
        assert not BEARER_VALUE.search(text), name
        assert ledger["old"].request_id not in text, name


def test_kinds_and_store_narrow_the_range(client, exporter, ledger):
    ask(client, kinds=[Kind.REDEEM], store_id="store-2")
    job = EvidenceExport.objects.get()
    tasks.write_evidence_export(job.pk)
    document = json.loads(members(job)["evidence.json"])
    assert [tx["request_id"] for tx in document["transactions"]] == [ledger["declined"].request_id]
    assert document["range"]["kinds"] == ["redeem"]
    assert document["range"]["store_id"] == "store-2"


def test_progress_is_reported_on_the_row_while_writing(client, exporter, ledger, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(exports, "CHUNK_ROWS", 2)
    ask(client)
    job = EvidenceExport.objects.get()
    with CaptureQueriesContext(connection) as captured:
        tasks.write_evidence_export(job.pk)
    reports = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("UPDATE") and "rows_written" in q["sql"]
    ]
    # The claim, the count, one per chunk of 2 of the 5 transactions, the final check, the end.
    assert len(reports) == 2 + 3 + 2, reports
    # What staff see meanwhile, on the job's page.
    EvidenceExport.objects.filter(pk=job.pk).update(
        state=ExportState.RUNNING, rows_written=3, rows_expected=5
    )
    page = client.get(job_url(job)).content.decode()
    assert "3 of 5 transactions (60%)" in page
    assert 'http-equiv="refresh"' in page


def test_download_with_the_permission_is_audited(client, exporter, ledger):
    ask(client)
    job = EvidenceExport.objects.get()
    tasks.write_evidence_export(job.pk)
    job.refresh_from_db()
    page = client.get(job_url(job)).content.decode()
    assert download_url(job) in page
    assert 'http-equiv="refresh"' not in page
    response = client.get(download_url(job))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert job.file_name in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["evidence.csv", "evidence.json"]
    entry = LogEntry.objects.get(action_flag=CHANGE, object_id=str(job.pk))
    assert (entry.user, entry.change_message) == (exporter, f"Downloaded {job.file_name}.")


def test_staff_without_the_permission_can_neither_ask_see_nor_download(client, ledger):
    owner = make_staff("owner", "export_evidence")
    job = exports.request_export(
        requested_by=owner, date_from=timezone.localdate(), date_to=timezone.localdate()
    )
    tasks.write_evidence_export(job.pk)
    client.force_login(make_staff("viewer", "view_ecardtransaction"))
    assert client.get(download_url(job)).status_code == 403
    assert client.get(job_url(job)).status_code in (302, 403)
    assert client.get(ADD_URL).status_code == 403
    assert ask(client).status_code == 403
    listing = client.get(reverse("admin:ecard_integration_ecardtransaction_changelist"))
    assert ADD_URL not in listing.content.decode()
    assert not LogEntry.objects.filter(action_flag=CHANGE, object_id=str(job.pk)).exists()
    assert EvidenceExport.objects.count() == 1


def test_a_job_whose_worker_died_is_queued_again_and_finished(client, exporter, ledger):
    ask(client)
    job = EvidenceExport.objects.get()
    dead_attempt = exports.claim(job.pk)  # a worker took it, then died: no heartbeat since
    EvidenceExport.objects.filter(pk=job.pk).update(heartbeat_at=Now() - timedelta(minutes=10))
    assert exports.sweep()["queued"] == 1
    job.refresh_from_db()
    assert job.state == ExportState.QUEUED
    assert tasks.write_evidence_export(job.pk) == ExportState.DONE
    job.refresh_from_db()
    assert (job.state, job.attempt) == (ExportState.DONE, dead_attempt + 1)
    # The first worker, had it been only slow, stops at its next report instead of writing on.
    with pytest.raises(exports.LostLease):
        exports._Progress(job.pk, dead_attempt).report(force=True)


def test_a_job_that_kills_its_worker_every_time_is_marked_failed(client, exporter, ledger):
    ask(client)
    job = EvidenceExport.objects.get()
    EvidenceExport.objects.filter(pk=job.pk).update(
        state=ExportState.RUNNING,
        attempt=exports.MAX_ATTEMPTS,
        heartbeat_at=Now() - timedelta(minutes=10),
    )
    assert exports.sweep()["failed"] == 1
    job.refresh_from_db()
    assert job.state == ExportState.FAILED
    assert "stopped 3 times" in job.error
    assert tasks.write_evidence_export(job.pk) is None  # never claimed again


def test_a_running_job_with_a_live_worker_is_left_alone(client, exporter, ledger):
    ask(client)
    job = EvidenceExport.objects.get()
    exports.claim(job.pk)
    assert exports.sweep() == {"queued": 0, "failed": 0, "expired": 0, "leftovers": 0}
    assert exports.claim(job.pk) is None  # a second delivery of the message does nothing


def test_files_past_their_retention_are_removed(client, exporter, ledger, settings):
    ask(client)
    job = EvidenceExport.objects.get()
    tasks.write_evidence_export(job.pk)
    job.refresh_from_db()
    path = exports.file_path(job)
    assert path.is_file()
    assert exports.sweep()["expired"] == 0
    EvidenceExport.objects.filter(pk=job.pk).update(
        finished_at=F("finished_at") - timedelta(days=settings.EVIDENCE_EXPORT_RETENTION_DAYS + 1)
    )
    assert exports.sweep()["expired"] == 1
    job.refresh_from_db()
    assert job.state == ExportState.EXPIRED
    assert not path.exists()
    response = client.get(download_url(job))
    assert response.status_code == 302  # back to the job's page, which says the file is gone


def test_the_selection_action_sends_large_selections_to_the_job(admin_client, ledger, monkeypatch):
    from ecard_integration.admin import transactions

    monkeypatch.setattr(transactions, "EXPORT_ACTION_MAX_ROWS", 2)
    response = admin_client.post(
        reverse("admin:ecard_integration_ecardtransaction_changelist"),
        {"action": "export_evidence", "_selected_action": [row.pk for row in ledger.values()]},
        follow=True,
    )
    assert response["Content-Type"].startswith("text/html")
    assert "More than 2 transactions selected" in response.content.decode()


@pytest.mark.worker
def test_a_real_worker_writes_the_job_the_request_queued(
    client, exporter, ledger, sandbox_process, tmp_path
):
    import time

    from tests.processes import CeleryProcess

    worker = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "worker.log")
    with worker:
        worker.wait_ready()
        ask(client)  # the message, sent once the job row is committed
        job = EvidenceExport.objects.get()
        deadline = time.monotonic() + 60
        while EvidenceExport.objects.filter(pk=job.pk).exclude(state=ExportState.DONE).exists():
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.2)
    job.refresh_from_db()
    assert job.rows_written == job.rows_expected == len(ledger) - 1
    assert client.get(download_url(job)).status_code == 200


def many_rows(count: int) -> None:
    """`count` settled redeems of today, written straight into the ledger (no eCard round trip:
    the export reads rows, whatever made them), enough to keep a worker writing a while."""
    EcardTransaction.objects.bulk_create(
        EcardTransaction(
            request_id=f"bulk-{n:08d}",
            kind=Kind.REDEEM,
            state="approved",
            source=Source.KIOSK,
            store_id="store-9",
            card_ciphertext=b"\0",
            card_hash=f"{n:064d}",
            card_last4=f"{n % 10000:04d}",
            amount="1.00",
            request_sha256="0" * 64,
            response_code="00",
        )
        for n in range(count)
    )


@pytest.mark.worker
def test_a_worker_killed_mid_write_is_replaced_and_the_job_finished(
    client, exporter, sandbox_process, tmp_path, settings
):
    import time

    from tests.processes import CeleryProcess

    many_rows(30_000)
    settings.EVIDENCE_EXPORT_STALE_SECONDS = 2
    fast = {"EVIDENCE_EXPORT_STALE_SECONDS": 2}
    first = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w1.log", **fast)
    with first:
        first.wait_ready()
        ask(client)
        job = EvidenceExport.objects.get()
        deadline = time.monotonic() + 60
        while not EvidenceExport.objects.filter(pk=job.pk, rows_written__gt=0).exists():
            assert time.monotonic() < deadline, first.log_text()[-3000:]
            time.sleep(0.05)
        first.kill()  # mid-write: a progress report made, the job not finished
    job.refresh_from_db()
    assert (job.state, job.attempt) == (ExportState.RUNNING, 1)
    assert 0 < job.rows_written <= job.rows_expected == 30_000
    assert exports.file_path(job) is None
    time.sleep(2.5)  # its heartbeat goes stale
    second = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w2.log", **fast)
    with second:
        second.wait_ready()
        assert exports.sweep()["queued"] == 1
        deadline = time.monotonic() + 120
        while not EvidenceExport.objects.filter(pk=job.pk, state=ExportState.DONE).exists():
            assert time.monotonic() < deadline, second.log_text()[-3000:]
            time.sleep(0.2)
    job.refresh_from_db()
    assert job.attempt == 2
    assert job.rows_written == job.rows_expected == 30_000
    document = json.loads(members(job)["evidence.json"])
    assert len(document["transactions"]) == 30_000
    assert not list(exports.file_path(job).parent.glob("*.partial"))  # the killed one's too
