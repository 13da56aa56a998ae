"""Kiosk devices: one-time enrollment codes and the signed device credential every kiosk request
carries (checked against the database, rotated to sign a browser out)."""

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext, gettext_noop

from ecard_integration import services as ecard_services
from kiosk.models import EnrollmentCode, Kiosk, new_credential_version

logger = logging.getLogger(__name__)

CREDENTIAL_SALT = "kiosk.device-credential"
CODE_SALT = "kiosk.enrollment-code"
COOKIE_NAME = "kiosk_device"
COOKIE_PATH = "/kiosk/"
CODE_DIGITS = 16
ENROLL_FAILURES_PREFIX = "kiosk-enroll-failures:"
ENROLL_FAILED = gettext_noop("This enrollment code is not valid. Ask for a new code and try again.")
ENROLL_THROTTLED = gettext_noop(
    "Too many wrong codes from this device. Wait 15 minutes, then try again."
)
CODE_SEPARATORS_RE = re.compile(r"[\s-]+")


class EnrollmentError(Exception):
    """The code is unknown, used, expired, or this device tried too many: `message` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = gettext(message)


def enrollment_code_seconds() -> int:
    return int(getattr(settings, "KIOSK_ENROLLMENT_CODE_SECONDS", 15 * 60))


def credential_max_age_seconds() -> int:
    return int(getattr(settings, "KIOSK_CREDENTIAL_MAX_AGE_DAYS", 365)) * 24 * 60 * 60


def cookie_secure() -> bool:
    # Production sets SESSION_COOKIE_SECURE (DEBUG off): the device cookie follows it.
    return bool(getattr(settings, "KIOSK_COOKIE_SECURE", settings.SESSION_COOKIE_SECURE))


def _code_hash(code: str) -> str:
    return salted_hmac(CODE_SALT, code, algorithm="sha256").hexdigest()


def normalize_code(value: object) -> str:
    """The digits of a typed code (spaces and dashes allowed), or "" if it cannot be one."""
    if not isinstance(value, str) or len(value) > 64:
        return ""
    digits = CODE_SEPARATORS_RE.sub("", value)
    return digits if re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", digits) else ""


def format_code(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def create_enrollment_code(*, kiosk: Kiosk, created_by=None) -> tuple[EnrollmentCode, str]:
    """A new one-time code for `kiosk`, valid `KIOSK_ENROLLMENT_CODE_SECONDS`.

    Returns the row and the code itself: the code is shown to staff once and never stored.
    """
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    row = EnrollmentCode.objects.create(
        kiosk=kiosk,
        code_hash=_code_hash(code),
        expires_at=ecard_services.db_now_plus(enrollment_code_seconds()),
        created_by=created_by,
    )
    row.refresh_from_db()
    return row, code


def _enroll_failures_key(ip: str | None) -> str:
    return ENROLL_FAILURES_PREFIX + salted_hmac(CODE_SALT, ip or "-").hexdigest()[:32]


def enroll(*, code: str, ip: str | None) -> Kiosk:
    """Use a one-time code: the kiosk gets a new credential version (any browser enrolled before
    is signed out) and is returned, so the caller can hand this browser its credential.

    Raises `EnrollmentError` for a wrong, used or expired code, and after
    `KIOSK_ENROLL_ATTEMPT_LIMIT` wrong codes from one address (for 15 minutes).
    """
    failures_key = _enroll_failures_key(ip)
    limit = int(getattr(settings, "KIOSK_ENROLL_ATTEMPT_LIMIT", 10))
    if int(cache.get(failures_key) or 0) >= limit:
        raise EnrollmentError(ENROLL_THROTTLED)
    normalized = normalize_code(code)
    kiosk_id = None
    if normalized:
        with transaction.atomic():
            code_hash = _code_hash(normalized)
            claimed = EnrollmentCode.objects.filter(
                code_hash=code_hash, used_at__isnull=True, expires_at__gt=Now()
            ).update(used_at=Now())
            if claimed:
                kiosk_id = EnrollmentCode.objects.values_list("kiosk_id", flat=True).get(
                    code_hash=code_hash
                )
                Kiosk.objects.filter(id=kiosk_id).update(
                    credential_version=new_credential_version(), enrolled_at=Now()
                )
    if kiosk_id is None:
        cache.add(failures_key, 0, timeout=15 * 60)
        try:
            cache.incr(failures_key)
        except ValueError:
            cache.set(failures_key, 1, timeout=15 * 60)
        raise EnrollmentError(ENROLL_FAILED)
    logger.info("kiosk %s enrolled", kiosk_id)
    return Kiosk.objects.select_related("store").get(id=kiosk_id)


def sign_out_device(*, kiosk: Kiosk) -> None:
    """Rotate the kiosk's credential: the enrolled browser stops at its next request."""
    Kiosk.objects.filter(id=kiosk.id).update(credential_version=new_credential_version())


def issue_credential(kiosk: Kiosk) -> str:
    """The signed value of the device cookie: the kiosk id and its credential version."""
    payload = {"k": kiosk.id, "v": kiosk.credential_version, "t": int(time.time())}
    return signing.dumps(payload, salt=CREDENTIAL_SALT)


@dataclass(frozen=True)
class DeviceCheck:
    """The result of checking a device cookie.

    `status`: `ok`, `missing`, `invalid` (bad signature, too old, or not ours), `revoked` (the
    kiosk was deleted, re-enrolled elsewhere or signed out) or `inactive` (disabled by staff).
    `reissue`: the credential is valid but over a day old; hand out a fresh one (sliding expiry).
    """

    status: str
    kiosk: Kiosk | None = None
    reissue: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def authenticate_device(credential: str | None) -> DeviceCheck:
    """Check a device credential against the database, as every kiosk request does."""
    if not credential:
        return DeviceCheck("missing")
    try:
        payload = signing.loads(
            credential, salt=CREDENTIAL_SALT, max_age=credential_max_age_seconds()
        )
    except signing.BadSignature:
        return DeviceCheck("invalid")
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), int):
        return DeviceCheck("invalid")
    kiosk = Kiosk.objects.select_related("store").filter(id=payload["k"]).first()
    if kiosk is None or not constant_time_compare(
        kiosk.credential_version, str(payload.get("v", ""))
    ):
        return DeviceCheck("revoked")
    if not kiosk.active:
        return DeviceCheck("inactive", kiosk)
    issued = payload.get("t")
    reissue = not isinstance(issued, int) or time.time() - issued > 24 * 60 * 60
    _seen(kiosk)
    return DeviceCheck("ok", kiosk, reissue=reissue)


def _seen(kiosk: Kiosk) -> None:
    """Note when the kiosk was last heard from, at most once a minute."""
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=ecard_services.db_now_plus(-60))
    Kiosk.objects.filter(stale, id=kiosk.id).update(last_seen_at=Now())


def enrollment_expiry_text(row: EnrollmentCode) -> str:
    minutes = max(1, round((row.expires_at - row.created_at) / timedelta(minutes=1)))
    return f"{minutes} minutes"
