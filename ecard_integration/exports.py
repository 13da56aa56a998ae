"""Evidence exports of a date range: asked for by staff, written by a worker, downloaded when done.

The request only writes an `EvidenceExport` row and enqueues its id (`request_export`). The worker
(`write`) claims the row with a conditional update that numbers its attempt, counts the rows it
will write and streams them, in the evidence's one row format (`evidence.transaction_record`,
`evidence_csv.transaction_csv_rows`), into a ZIP on disk under `EVIDENCE_EXPORT_DIR`: evidence.csv
(one row per exchange) and evidence.json (the same transactions), read from the database in
chunks (`.iterator(chunk_size=…)`), so memory stays flat whatever the range. The JSON member is
spooled to a file beside the ZIP while the CSV is written, then copied in: each row is read and
rendered once. Every second it reports rows written and its heartbeat on the row, conditional on
its attempt: a worker whose job was handed on (it looked dead) stops instead of writing on. The
ZIP is written under a temporary name and renamed when complete, so a file with the final name is
always whole.

`sweep` (beat, every minute) queues again a job whose worker stopped beating (a killed worker, a
lost message) until `MAX_ATTEMPTS`, then marks it failed, and removes files past their retention
and the partial files killed workers left.
Card numbers are always masked here: full numbers are for certification packs of sandbox test
cards only (`manage.py ecard_certify`), never for a range of the ledger.
"""

import contextlib
import io
import json
import logging
import shutil
import time
import zipfile
from collections import namedtuple
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.db.models.functions import Now
from django.utils import timezone

from config.returning import update_returning
from ecard_integration import evidence, evidence_csv, tasks, wire
from ecard_integration.errors import InvalidInput
from ecard_integration.models import EcardExchange, EvidenceExport, ExportState, Kind

logger = logging.getLogger(__name__)

CHUNK_ROWS = 2000  # transactions per database round trip (and one for their exchanges)
PROGRESS_SECONDS = 1.0
MAX_ATTEMPTS = 3
CSV_MEMBER, JSON_MEMBER = "evidence.csv", "evidence.json"
# What the evidence reads of an exchange (`evidence._exchange`), and what it never reads of a
# transaction in a masked export (its ciphertexts).
ExchangeRow = namedtuple(
    "ExchangeRow",
    "started_at duration_ms request_id url request_headers request_body request_sha256 "
    "response_status response_headers response_body error idempotent_replay is_reconciliation",
)
SKIPPED = ("card_ciphertext", "replay_ciphertext")
# One transaction a line in evidence.json; a record holds no cycle to look for.
COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


class LostLease(Exception):  # noqa: N818 - a state, not a failure
    """The job was handed to another worker meanwhile: this one stops and removes its file."""


# --- The request (web) ----------------------------------------------------------------------------


def check_range(*, date_from, date_to, kinds=(), store_id: str = "") -> str:
    """Validate what staff asked for (InvalidInput names the field); answers the store id."""
    if date_to < date_from:
        raise InvalidInput("The last day comes before the first.", field="date_to")
    if (date_to - date_from).days + 1 > settings.EVIDENCE_EXPORT_MAX_DAYS:
        raise InvalidInput(
            f"One export covers at most {settings.EVIDENCE_EXPORT_MAX_DAYS} days.", field="date_to"
        )
    if set(kinds) - set(Kind.values):
        raise InvalidInput("Choose kinds from the list.", field="kinds")
    return wire.parse_store_or_terminal_id(store_id, field="store_id") if store_id else ""


def request_export(*, requested_by, date_from, date_to, kinds=(), store_id="") -> EvidenceExport:
    """A job for this range (days in the venue's time zone, both included), queued for a worker
    once committed. Returns at once: nothing is read from the ledger here."""
    store_id = check_range(date_from=date_from, date_to=date_to, kinds=kinds, store_id=store_id)
    job = EvidenceExport.objects.create(
        requested_by=requested_by,
        date_from=date_from,
        date_to=date_to,
        kinds=sorted(set(kinds)),
        store_id=store_id,
        heartbeat_at=Now(),  # for a queued job: when it was last handed to the broker
    )
    transaction.on_commit(lambda: tasks.enqueue(tasks.write_evidence_export, job.pk))
    return job


def bounds(job: EvidenceExport) -> tuple[datetime, datetime]:
    """The range as aware datetimes: the first day's local midnight, the day after the last's."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(job.date_from, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(job.date_to + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start, end


def ledger_rows(job: EvidenceExport):
    """The job's transactions, oldest first (served by the `ledger_created` index)."""
    start, end = bounds(job)
    rows = evidence.ledger_rows().filter(created_at__gte=start, created_at__lt=end)
    if job.kinds:
        rows = rows.filter(kind__in=job.kinds)
    if job.store_id:
        rows = rows.filter(store_id=job.store_id)
    return rows.order_by("created_at", "id")


def file_path(job: EvidenceExport) -> Path | None:
    """The finished ZIP of a job, when there is one to download."""
    if job.state != ExportState.DONE or not job.file_name:
        return None
    path = Path(settings.EVIDENCE_EXPORT_DIR) / job.file_name
    return path if path.is_file() else None


def file_name(job: EvidenceExport) -> str:
    return f"ecard-evidence-{job.date_from:%Y%m%d}-{job.date_to:%Y%m%d}-job{job.pk}.zip"


# --- The work (worker) ----------------------------------------------------------------------------


def _stale():
    return Now() - timedelta(seconds=settings.EVIDENCE_EXPORT_STALE_SECONDS)


def claim(job_id: int) -> int | None:
    """Take the job: queued, or running with a silent worker (a message delivered again after
    the worker died). Answers this attempt's number; None when it is not ours to write."""
    claimed = update_returning(
        EvidenceExport.objects.filter(pk=job_id, attempt__lt=MAX_ATTEMPTS).filter(
            Q(state=ExportState.QUEUED) | Q(state=ExportState.RUNNING, heartbeat_at__lt=_stale())
        ),
        ["attempt"],
        state=ExportState.RUNNING,
        attempt=F("attempt") + 1,
        started_at=Now(),
        heartbeat_at=Now(),
        rows_written=0,
        error="",
    )
    return claimed["attempt"] if claimed else None


class _Progress:
    """Rows written and the heartbeat, on the row at most every PROGRESS_SECONDS, only while the
    job is still this attempt's."""

    def __init__(self, job_id: int, attempt: int):
        self.job_id, self.attempt = job_id, attempt
        self.rows = 0
        self._last = 0.0

    def report(self, *, force: bool = False, **values) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_SECONDS:
            return
        self._last = now
        mine = EvidenceExport.objects.filter(
            pk=self.job_id, state=ExportState.RUNNING, attempt=self.attempt
        )
        if not mine.update(rows_written=self.rows, heartbeat_at=Now(), **values):
            raise LostLease


def write(job_id: int) -> str | None:
    """Write the job's ZIP (the task's body). Answers the state it left the job in, None when it
    was not this worker's to write (done, failed, or another worker's)."""
    attempt = claim(job_id)
    if attempt is None:
        return None
    job = EvidenceExport.objects.select_related("requested_by").get(pk=job_id)
    progress = _Progress(job_id, attempt)
    folder = Path(settings.EVIDENCE_EXPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / file_name(job)
    partial = folder / f"{final.name}.{attempt}.partial"
    spool = folder / f"{final.name}.{attempt}.json.partial"
    try:
        rows = ledger_rows(job)
        # What exists now is what is written: rows added to the range meanwhile wait for a new job.
        counted = rows.aggregate(count=Count("id"), last=Max("id"))
        progress.report(force=True, rows_expected=counted["count"])
        rows = rows.filter(id__lte=counted["last"] or 0)
        _write_zip(job, rows, partial, spool, progress)
        progress.report(force=True)  # still ours: only then does the file take its final name
        partial.replace(final)
        for leftover in folder.glob(f"{final.name}.*.partial"):  # an earlier attempt's, killed
            leftover.unlink(missing_ok=True)
        progress.report(
            force=True,
            state=ExportState.DONE,
            finished_at=Now(),
            file_name=final.name,
            file_size=final.stat().st_size,
        )
        return ExportState.DONE
    except LostLease:
        logger.warning("evidence export %s attempt %s handed on: stopped", job_id, attempt)
        return None
    except Exception as exc:
        # Written down for staff (the class only: a message might quote data), then raised for
        # the worker's log.
        EvidenceExport.objects.filter(pk=job_id, state=ExportState.RUNNING, attempt=attempt).update(
            state=ExportState.FAILED, finished_at=Now(), error=f"{type(exc).__name__}"[:200]
        )
        raise
    finally:
        partial.unlink(missing_ok=True)
        spool.unlink(missing_ok=True)


def _write_zip(job: EvidenceExport, rows, partial: Path, spool: Path, progress: _Progress) -> None:
    with (
        zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        spool.open("w+", encoding="utf-8", newline="") as json_out,
    ):
        json_out.write(_json_head(job))
        member = archive.open(CSV_MEMBER, "w", force_zip64=True)
        with io.TextIOWrapper(member, encoding="utf-8", newline="") as csv_out:
            evidence_csv.write_csv(csv_out, _rendered(rows, json_out, progress))
        json_out.write("\n]}\n")
        json_out.seek(0)
        with archive.open(JSON_MEMBER, "w", force_zip64=True) as member:
            shutil.copyfileobj(json_out.buffer, member, 1 << 20)


def _rendered(rows, json_out, progress: _Progress):
    """Each transaction rendered once: its JSON to the spool, its CSV rows to the caller."""
    separator = "\n"
    for chunk in _chunks(rows):
        exchanges = _exchanges_of(chunk)
        for row in chunk:
            record = evidence.transaction_record(row, exchanges=exchanges.get(row.pk, ()))
            json_out.write(separator)
            json_out.write(COMPACT.encode(record))
            separator = ",\n"
            yield from evidence_csv.transaction_csv_rows(record)
            progress.rows += 1
        progress.report()


def _chunks(rows):
    """The rows, CHUNK_ROWS at a time, from one server-side cursor. Their exchanges are read per
    chunk as plain tuples (`_exchanges_of`): a model instance and a prefetch queryset for each
    exchange cost more than rendering it."""
    chunk = []
    for row in rows.prefetch_related(None).defer(*SKIPPED).iterator(chunk_size=CHUNK_ROWS):
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _exchanges_of(chunk) -> dict[int, list]:
    found: dict[int, list] = {}
    values = (
        EcardExchange.objects.filter(transaction_id__in=[row.pk for row in chunk])
        .order_by("transaction_id", "id")
        .values_list("transaction_id", *ExchangeRow._fields)
    )
    for transaction_id, *fields in values:
        found.setdefault(transaction_id, []).append(ExchangeRow(*fields))
    return found


def _json_head(job: EvidenceExport) -> str:
    """The JSON document up to its transactions list, which the rows then fill."""
    generated = timezone.now()
    head = {
        "generated_at_utc": evidence.utc_text(generated),
        "generated_at_local": evidence.local_text(generated),
        "environment": evidence.environment(),
        "full_card_numbers": False,
        "requested_by": job.requested_by.get_username(),
        "range": {
            "date_from": job.date_from.isoformat(),
            "date_to": job.date_to.isoformat(),
            "time_zone": settings.TIME_ZONE,
            "kinds": job.kinds or "all",
            "store_id": job.store_id or "all",
        },
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    return text[: text.rindex("}")].rstrip() + ',\n  "transactions": ['


# --- The sweep (beat) -----------------------------------------------------------------------------


def sweep() -> dict:
    """Hand on jobs nobody is writing, give up on those that killed their worker MAX_ATTEMPTS
    times, and remove files past their retention. Answers what it did, by count."""
    silent = EvidenceExport.objects.filter(
        state__in=[ExportState.QUEUED, ExportState.RUNNING], heartbeat_at__lt=_stale()
    )
    failed = silent.filter(attempt__gte=MAX_ATTEMPTS).update(
        state=ExportState.FAILED,
        finished_at=Now(),
        error=f"The worker stopped {MAX_ATTEMPTS} times while writing it.",
    )
    queued = []
    for job_id in silent.values_list("pk", flat=True):
        # Queued again with a fresh heartbeat: one message per job per STALE_SECONDS at most.
        if silent.filter(pk=job_id).update(state=ExportState.QUEUED, heartbeat_at=Now()):
            queued.append(job_id)
            tasks.enqueue(tasks.write_evidence_export, job_id)
    return {
        "queued": len(queued),
        "failed": failed,
        "expired": expire_old_files(),
        "leftovers": remove_leftovers(),
    }


def remove_leftovers() -> int:
    """Remove the partial files of killed workers: a live writer touches its own at every chunk,
    so one untouched for twice the stale time is nobody's (the file system's clock is enough for
    a file that holds no money)."""
    folder = Path(settings.EVIDENCE_EXPORT_DIR)
    cutoff = time.time() - 2 * settings.EVIDENCE_EXPORT_STALE_SECONDS
    removed = 0
    for leftover in folder.glob("*.partial") if folder.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
                removed += 1
    return removed


def expire_old_files() -> int:
    """Remove the ZIPs of jobs finished more than EVIDENCE_EXPORT_RETENTION_DAYS ago."""
    retention = timedelta(days=settings.EVIDENCE_EXPORT_RETENTION_DAYS)
    old = EvidenceExport.objects.filter(state=ExportState.DONE, finished_at__lt=Now() - retention)
    expired = 0
    for job in old:
        (Path(settings.EVIDENCE_EXPORT_DIR) / job.file_name).unlink(missing_ok=True)
        expired += EvidenceExport.objects.filter(pk=job.pk, state=ExportState.DONE).update(
            state=ExportState.EXPIRED
        )
    return expired
