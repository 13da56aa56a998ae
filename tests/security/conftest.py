"""Fixtures for the security suite: a supervisor and a log recorder (the helpers are in
tests/security/helpers.py)."""

import logging

import pytest

from tests.factories import make_staff
from tests.security.helpers import LogRecorder


@pytest.fixture
def supervisor(db):
    """Staff who may view, void and load (the permissions of the "Supervisors" group)."""
    return make_staff(
        "supervisor",
        "view_ecardtransaction",
        "void_transaction",
        "load_card",
        "export_evidence",
    )


@pytest.fixture
def log_recorder():
    handler = LogRecorder()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
