"""A quiet console: rnnkit's own lines, without Lightning's chatter or deprecation noise.

By default (``verbose=false``) a command shows its summary, the epoch lines
(:class:`~rnnkit.callbacks.EpochSummary`), rnnkit's warnings and every error, but not:

* Lightning's informational messages (device lists, tips, "`Trainer.fit` stopped", restoring
  checkpoints, the model summary table, the test-metrics table: the run's summary says it);
* deprecation warnings (``DeprecationWarning``, ``PendingDeprecationWarning``,
  ``FutureWarning``) raised from third-party code, e.g. Lightning's ``_pytree``
  ``isinstance(treespec, LeafSpec)`` warning on every run: a user cannot act on them;
* Lightning's advice about settings rnnkit made on purpose (few dataloader workers for
  in-memory data, a logging interval longer than a tiny epoch).

``verbose=true`` restores all of it. Lightning's warnings about anything else still show.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["CHATTY_LOGGERS", "quiet_console"]

CHATTY_LOGGERS = ("lightning", "lightning_fabric", "pytorch_lightning")
"""Loggers whose INFO messages the quiet console drops (warnings and errors pass)."""

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
ADVICE = (
    r".*does not have many workers.*",
    r".*is smaller than the logging interval.*",
)


@contextlib.contextmanager
def quiet_console(verbose: bool = False) -> Iterator[None]:
    """While the block runs, hide what the module docstring lists (nothing if ``verbose``);
    the warning filters and logger levels are restored afterwards."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for category in DEPRECATIONS:
            warnings.filterwarnings("ignore", category=category)
            # rnnkit's own deprecations are for its users: keep them (inserted first, so
            # they win over the line above).
            warnings.filterwarnings("default", category=category, module=r"rnnkit(\.|$)")
        for message in ADVICE:
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
