"""A kiosk's place in the shared PIN throttle: its scope and how staff read its blocks.

The registry and the staff page's logic live in `ordering.lockouts`, shared with online ordering.
"""

from ordering import lockouts


def kiosk_scope(kiosk) -> str:
    """The "session" scope a kiosk passes to the shared throttle: one per kiosk."""
    return f"kiosk:{kiosk.id}"


def origin(kiosk) -> lockouts.Origin:
    return lockouts.Origin(
        where=f"Kiosk {kiosk.name}",
        session_label=f"Kiosk {kiosk.name} ({kiosk.store})",
        ip_label=f"Network address of kiosk {kiosk.name}",
    )


def note(*, card_hash: str, card_last4: str, kiosk, ip: str | None) -> None:
    """Remember the throttle keys of a failed or blocked PIN attempt made at `kiosk`."""
    lockouts.note(
        card_hash=card_hash,
        card_last4=card_last4,
        session_key=kiosk_scope(kiosk),
        ip=ip,
        origin=origin(kiosk),
    )
