"""eCard's clock, as its answers show it: the offset between eCard's time and ours.

eCard forgets a request id two hours after storing its outcome *on its own clock*; our replay
deadline is on the database clock. If eCard runs ahead of us by more than the safety margin, a
replay we think is in time reaches an eCard that has forgotten the id and charges again. So every
answer's time stamp is measured (`wire.ecard_time`, in the client) and reconciliation shortens the
deadlines by the measured skew (`reconciliation._replayable`).

The latest measurement lives in this process and, so that web and worker processes share it, in
the cache named by `ECARD_CLOCK_CACHE` (see settings). The shared copy is written at most once
every `PUBLISH_EVERY_SECONDS` per process, so a payment gains a cache write at most that often,
not once per call; it is read back only when this process has no fresher measurement of its own.
A cache outage never fails a call: the process keeps its own measurement.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

CACHE_KEY = "ecard:clock"
PUBLISH_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Sample:
    """One measurement: eCard's time minus ours (seconds; positive when eCard runs ahead)."""

    offset_seconds: float
    measured_at: float  # our wall clock, seconds since the epoch
    source: str  # "meta" (meta.timestamp) or "date" (the Date header)

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.measured_at)


_lock = threading.Lock()
_latest: Sample | None = None
_published_at: float | None = None  # time.monotonic() of this process's last shared write


def observe(ecard_moment: datetime, *, sent_at: float, elapsed: float, source: str) -> Sample:
    """Record what one answer showed. `sent_at`: our wall clock when the request left;
    `elapsed`: seconds until the answer was read (monotonic).

    eCard stamped its answer somewhere between our send and our receipt; we cannot know where,
    so the midpoint is taken: the error is then at most half the round trip either way, however
    the latency splits between the two directions (the end alone would read every slow answer
    as eCard running behind).
    """
    ours = sent_at + elapsed / 2
    sample = Sample(round(ecard_moment.timestamp() - ours, 3), ours, source)
    record(sample)
    return sample


def record(sample: Sample) -> None:
    global _latest, _published_at
    now = time.monotonic()
    with _lock:
        _latest = sample
        due = _published_at is None or now - _published_at >= PUBLISH_EVERY_SECONDS
        if due:
            _published_at = now
    if due:
        _publish(sample)


def _publish(sample: Sample) -> None:
    try:
        caches[settings.ECARD_CLOCK_CACHE].set(
            CACHE_KEY,
            {
                "offset_seconds": sample.offset_seconds,
                "measured_at": sample.measured_at,
                "source": sample.source,
            },
            timeout=settings.ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS,
        )
    except Exception as exc:  # noqa: BLE001 - a cache outage must not fail a payment
        logger.warning("could not share eCard's clock offset: %s", type(exc).__name__)


def _shared() -> Sample | None:
    try:
        value = caches[settings.ECARD_CLOCK_CACHE].get(CACHE_KEY)
    except Exception as exc:  # noqa: BLE001 - without the cache, this process's own sample
        logger.warning("could not read eCard's clock offset: %s", type(exc).__name__)
        return None
    if not isinstance(value, dict):
        return None
    try:
        return Sample(float(value["offset_seconds"]), float(value["measured_at"]), value["source"])
    except (KeyError, TypeError, ValueError):
        return None


def latest() -> Sample | None:
    """The newest measurement any process made, if younger than
    `ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS`; None when eCard's clock is unknown."""
    with _lock:
        mine = _latest
    newest = mine
    if mine is None or mine.age_seconds() >= PUBLISH_EVERY_SECONDS:
        shared = _shared()
        if shared is not None and (mine is None or shared.measured_at > mine.measured_at):
            newest = shared
    if newest is None or newest.age_seconds() > settings.ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS:
        return None
    return newest


def skew_seconds() -> float | None:
    """How far eCard's clock runs ahead of ours (negative: behind); None when unknown."""
    sample = latest()
    return None if sample is None else sample.offset_seconds


def forget() -> None:
    """Drop every measurement, this process's and the shared one (tests; eCard moved hosts)."""
    global _latest, _published_at
    with _lock:
        _latest = None
        _published_at = None
    try:
        caches[settings.ECARD_CLOCK_CACHE].delete(CACHE_KEY)
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not forget eCard's clock offset: %s", type(exc).__name__)
