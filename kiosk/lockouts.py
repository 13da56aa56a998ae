"""A kiosk's place in the shared PIN throttle: its device scope and how staff read its blocks.

An enrolled kiosk is a known device: its PIN attempts are counted per device (and per card),
never per network address, since every kiosk of a store shares one public address. The registry
and the staff page's logic live in `ordering.lockouts`, shared with online ordering.
"""

from ordering import lockouts, throttle


def device_scope(kiosk) -> str:
    """The "device" scope a kiosk passes to the shared throttle: one per kiosk."""
    return f"kiosk:{kiosk.id}"


def scopes(kiosk, card_hash: str) -> throttle.Scopes:
    return throttle.Scopes(card_hash, device=device_scope(kiosk))


def origin(kiosk) -> lockouts.Origin:
    return lockouts.Origin(
        where=f"Kiosk {kiosk.name}",
        session_label="",
        ip_label="",
        device_label=f"Kiosk {kiosk.name} ({kiosk.store})",
    )


def note(*, card_hash: str, card_last4: str, kiosk) -> None:
    """Remember the throttle keys of a failed or blocked PIN attempt made at `kiosk`."""
    lockouts.note(scopes=scopes(kiosk, card_hash), card_last4=card_last4, origin=origin(kiosk))
