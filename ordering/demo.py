"""Demo data for `make run`: sandbox test cards (with PINs) and a staff login."""

from decimal import Decimal

# Sandbox test cards only: printed in full on purpose, so a developer can type them in.
DEMO_CARDS = [
    {"card_number": "6006491000000001", "balance": Decimal("100.00"), "pin": "1234"},
    {"card_number": "6006491000000002", "balance": Decimal("25.00"), "pin": "2468"},
    {"card_number": "6006491000000003", "balance": Decimal("7.50"), "pin": "1357"},
    {
        "card_number": "6006491000000004",
        "balance": Decimal("50.00"),
        "pin": "9876",
        "status": "inactive",
    },
    {
        "card_number": "6006491000000005",
        "balance": Decimal("500.00"),
        "pin": "4321",
        "pin_required": True,
    },
]
