"""Helpers for the online ordering browser tests."""

import re
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def screenshot(page, test_name: str, step: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test_name)}-{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
