"""The certified-build fingerprint: one hash of the wire module and the eCard-facing code.

eCard re-certifies an integration after any change to its code, so an operator must see at a
glance whether the running build is the one eCard certified. The fingerprint is the SHA-256 of
each file in `CERTIFIED_FILES` (path and content, line endings as LF); the evidence pack states
it, `/healthz` (its details part) and the admin index show it against the configured
`ECARD_CERTIFIED_FINGERPRINT`, and say "not the certified build" when they differ. Anything that
shapes what we send to eCard, when, and how we read its answers is in the list; storage, pages
and the certification run itself are not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

PACKAGE = Path(__file__).resolve().parent
CERTIFIED_FILES = (
    "wire.py",  # paths, shapes, codes: the contract itself
    "transport.py",
    "client.py",
    "retry.py",
    "tokens.py",
    "clock.py",
    "services.py",
    "ledger.py",
    "reconciliation.py",
    "redaction.py",  # what the evidence shows
)
SHORT = 16  # hex digits shown to people; either form may be configured

CERTIFIED = "certified"
NOT_CERTIFIED = "not_certified"
UNSET = "unset"


@dataclass(frozen=True)
class Build:
    """The running build's fingerprint and how it compares with the certified one."""

    fingerprint: str
    wire: str  # wire.py's own hash: the part eCard's contract lives in
    certified_fingerprint: str
    status: str

    @property
    def short(self) -> str:
        return self.fingerprint[:SHORT]

    @property
    def is_certified(self) -> bool:
        return self.status == CERTIFIED

    @property
    def summary(self) -> str:
        if self.status == CERTIFIED:
            return f"the certified build ({self.short})"
        if self.status == NOT_CERTIFIED:
            return (
                f"not the certified build: running {self.short}, "
                f"certified {self.certified_fingerprint[:SHORT]}"
            )
        return f"build {self.short}; ECARD_CERTIFIED_FINGERPRINT is not set"

    def as_dict(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "wire_sha256": self.wire,
            "certified_fingerprint": self.certified_fingerprint,
            "status": self.status,
            "files": [f"ecard_integration/{name}" for name in CERTIFIED_FILES],
        }


@cache
def _hashes() -> tuple[str, str]:
    # Read once per process: the code a process runs is the code it imported at start.
    lines = []
    for name in CERTIFIED_FILES:
        content = (PACKAGE / name).read_bytes().replace(b"\r\n", b"\n")
        lines.append(f"ecard_integration/{name} {hashlib.sha256(content).hexdigest()}\n")
    wire = lines[0].split()[1]
    return hashlib.sha256("".join(lines).encode()).hexdigest(), wire


def current_build() -> Build:
    """The running build, compared with `ECARD_CERTIFIED_FINGERPRINT` (full or its first 16)."""
    fingerprint, wire = _hashes()
    configured = (settings.ECARD_CERTIFIED_FINGERPRINT or "").strip().lower()
    if not configured:
        status = UNSET
    elif configured in (fingerprint, fingerprint[:SHORT]):
        status = CERTIFIED
    else:
        status = NOT_CERTIFIED
    return Build(fingerprint, wire, configured, status)
