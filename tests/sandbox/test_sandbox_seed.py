"""`python -m ecard_sandbox seed`: the demo cards of `make run`, on a running sandbox."""

from __future__ import annotations

import os
import subprocess
import sys

from ecard_sandbox import seed
from ecard_sandbox.process import PACKAGE_PARENT
from tests.sandbox.helpers import CONTROL_KEY


def seed_args(sandbox_process, *extra: str) -> list[str]:
    return [
        "--url",
        sandbox_process.url_root,
        "--state-dir",
        str(sandbox_process.ca_path.parent),
        "--control-key",
        CONTROL_KEY,
        *extra,
    ]


def test_it_creates_and_prints_every_demo_card_and_can_run_twice(sandbox_process, control, capsys):
    assert seed.main(seed_args(sandbox_process)) == 0
    assert seed.main(seed_args(sandbox_process, "--wait", "1")) == 0
    out = capsys.readouterr().out
    assert out.count("Demo gift cards on the local sandbox (sandbox test data):") == 2
    for card in seed.DEMO_CARDS:
        held = control.card(card["card_number"])
        assert held["balance"] == f"{card['balance']:.2f}"
        assert held["status"] == card.get("status", "active")
        assert held["pin_required"] == card.get("pin_required", False)
        assert f"  {card['card_number']}  PIN {card['pin']}  balance {card['balance']:>7}" in out
    assert "  6006491000000004  PIN 9876  balance   50.00  inactive\n" in out


def test_it_is_a_sub_command_of_the_sandbox_command_line(sandbox_process, control):
    done = subprocess.run(  # noqa: S603 - our own fixed command line
        [sys.executable, "-m", "ecard_sandbox", "seed", *seed_args(sandbox_process)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": PACKAGE_PARENT},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Demo gift cards on the local sandbox")
    assert control.card(seed.DEMO_CARDS[0]["card_number"])["balance"] == "100.00"


def test_a_wrong_key_or_no_sandbox_is_exit_status_1_with_the_reason(
    sandbox_process, control, capsys
):
    wrong = seed_args(sandbox_process)
    wrong[wrong.index("--control-key") + 1] = "wrong-key"
    assert seed.main(wrong) == 1
    assert "refused the demo cards" in capsys.readouterr().err

    absent = seed_args(sandbox_process)
    absent[absent.index("--state-dir") + 1] = str(sandbox_process.ca_path.parent / "absent")
    assert seed.main([*absent, "--wait", "0.5"]) == 1
    assert "does not answer" in capsys.readouterr().err
