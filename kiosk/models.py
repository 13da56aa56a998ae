"""Kiosk devices and their one-time enrollment codes.

A kiosk is a browser bound to a store and an eCard terminal id. Staff enroll it with a one-time
code (stored only as a keyed hash); the browser then holds a signed credential naming the kiosk
and its `credential_version`. Enrolling again or signing the device out draws a new version, which
stops every credential signed with an older one at its next request.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Now

from ecard_integration.wire import STORE_OR_TERMINAL_RE


def new_credential_version() -> str:
    return secrets.token_hex(16)


class Kiosk(models.Model):
    """A self-service touch screen at a store; its transactions carry the store and terminal ids."""

    name = models.CharField(max_length=100)
    store = models.ForeignKey("ordering.Store", on_delete=models.PROTECT, related_name="kiosks")
    terminal_id = models.CharField(
        "eCard terminal id",
        max_length=32,
        validators=[
            RegexValidator(
                rf"\A{STORE_OR_TERMINAL_RE.pattern}\Z",
                "Use up to 32 letters, digits, dashes or underscores.",
            )
        ],
        help_text="Sent to eCard with every transaction from this kiosk. Up to 32 of A-Z a-z 0-9 - _",
    )
    active = models.BooleanField(
        default=True, help_text="An inactive kiosk shows only an out-of-service screen."
    )
    # Part of the signed device credential: a new value signs the enrolled browser out.
    credential_version = models.CharField(
        max_length=32, default=new_credential_version, editable=False
    )
    enrolled_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["store", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "terminal_id"], name="kiosk_terminal_unique_per_store"
            ),
        ]
        permissions = [
            ("enroll_kiosk", "Can create enrollment codes and sign kiosks out"),
            ("unlock_pin_throttle", "Can see and clear PIN throttle blocks"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.store_id and self.terminal_id == self.store.online_terminal_id:
            raise ValidationError(
                {"terminal_id": "This is the store's online terminal id: choose another."}
            )


class EnrollmentCode(models.Model):
    """A one-time code that binds a browser to a kiosk. Only its keyed hash is stored."""

    kiosk = models.ForeignKey(Kiosk, on_delete=models.CASCADE, related_name="enrollment_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"Enrollment code for {self.kiosk} ({self.created_at:%Y-%m-%d %H:%M})"
