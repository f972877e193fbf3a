"""Turn user mistakes into one clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from omegaconf.errors import OmegaConfBaseException

EXIT_USER_ERROR = 2
EXIT_DATA_ERROR = 1
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, OmegaConfBaseException)
DATA_ERRORS = (OSError,)
"""Bad data, files or environment (missing or corrupt checkpoints, failed downloads, unsafe or
corrupt archives): exit 1, where a bad command line or config exits 2."""

log = logging.getLogger("rnnkit")


@contextlib.contextmanager
def config_key(key: str) -> Iterator[None]:
    """Prefix errors raised while building from config ``key`` with that key."""
    try:
        yield
    except (ValueError, TypeError) as error:
        message = str(error)
        first_word = message.split(" ", 1)[0]
        if "." in first_word.rstrip(".:") and first_word.endswith(":"):
            raise  # already names its full key, e.g. "cell.hidden_size: ..."
        joiner = "." if first_word[:1].islower() and first_word.endswith(":") else ": "
        raise type(error)(f"{key}{joiner}{message}") from None


def run_reporting_errors(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function``; on a user error print ``rnnkit: error: <message>`` and exit 2 (1 for
    the :data:`DATA_ERRORS` of bad data, files or environment).

    ``HYDRA_FULL_ERROR=1`` lets the traceback through, as Hydra does for its own errors.
    """
    try:
        return function(*args)
    except (*DATA_ERRORS, *USER_ERRORS) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, FileNotFoundError) and error.filename:
            message = f"file not found: {error.filename}"
        print(f"rnnkit: error: {message}", file=sys.stderr)
        sys.exit(EXIT_DATA_ERROR if isinstance(error, DATA_ERRORS) else EXIT_USER_ERROR)
