"""Fixtures shared by the reliability tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def no_leftover_log_handlers():
    """Stderr holds only what this run prints: handlers an earlier in-process Hydra run left
    on the root logger write to streams pytest has closed ("--- Logging error ---")."""
    loggers = [logging.getLogger(), logging.getLogger("rnnkit")]
    saved = [logger.handlers[:] for logger in loggers]
    for logger in loggers:
        logger.handlers.clear()
    yield
    for logger, handlers in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
