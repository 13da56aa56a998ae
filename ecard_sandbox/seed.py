"""`python -m ecard_sandbox seed`: the demo gift cards of `make run`, on a running sandbox.

    python -m ecard_sandbox seed --url https://127.0.0.1:8443 --state-dir var/sandbox [--wait S]

Creates (or replaces) each demo card through the control API and prints them. The demo menu,
store and kiosk are the app's side (`manage.py seed_demo`), which never imports this package.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import requests

from ecard_sandbox.certs import CA_CERT_FILE
from ecard_sandbox.control import SandboxControl, SandboxControlError

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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ecard_sandbox seed",
        description="Create the demo gift cards on a running local sandbox and print them.",
    )
    parser.add_argument("--url", default="https://127.0.0.1:8443", help="the sandbox's root URL")
    parser.add_argument("--state-dir", required=True, help="the sandbox's state dir (its ca.pem)")
    parser.add_argument(
        "--control-key",
        default=os.environ.get("ECARD_SANDBOX_CONTROL_KEY", "dev-sandbox-key"),
        help="X-Sandbox-Key value (or ECARD_SANDBOX_CONTROL_KEY)",
    )
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the sandbox")
    return parser.parse_args(argv)


def wait_until_up(control: SandboxControl, wait: float) -> None:
    """Return once the control API answers; raise its last error after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            control.stats()
            return
        except (requests.RequestException, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def seed(control: SandboxControl, out: TextIO) -> None:
    out.write("Demo gift cards on the local sandbox (sandbox test data):\n")
    for card in DEMO_CARDS:
        control.create_card(
            card["card_number"],
            card["balance"],
            pin=card["pin"],
            pin_required=card.get("pin_required", False),
            status=card.get("status", "active"),
        )
        note = card.get("status", "")
        out.write(
            f"  {card['card_number']}  PIN {card['pin']}  balance {card['balance']:>7}  {note}\n"
        )
    out.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ca_path = Path(args.state_dir) / CA_CERT_FILE
    with SandboxControl(args.url, args.control_key, ca_path) as control:
        try:
            wait_until_up(control, args.wait)
            seed(control, sys.stdout)
        except (requests.RequestException, OSError) as exc:
            why = f"the sandbox at {args.url} does not answer: {exc}"
        except SandboxControlError as exc:
            why = f"the sandbox at {args.url} refused the demo cards: {exc}"
        else:
            return 0
    sys.stderr.write(f"ecard_sandbox seed: {why}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
