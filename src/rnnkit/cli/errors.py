"""Turn user mistakes into one clear line and a non-zero exit, not a traceback.

Exit codes of every ``rnnkit-*`` command:

==== =========================================================================================
code meaning
==== =========================================================================================
0    success
1    bad data, files or environment: a malformed or non-finite data line, a missing, corrupt or
     unreadable file, an unwritable log folder, a NaN loss during training
2    bad command line or config: an unknown key or group option, a value of the wrong type or
     out of range, a key that does not fit the chosen component
==== =========================================================================================

Libraries raise ``ValueError`` or ``OSError`` naming the culprit; what tells the two codes
apart is where the error arises: while a config value is checked or a component is built from
its config key (:func:`config_key`, :mod:`rnnkit.cli.validation`: a :class:`ConfigError`), or
later, while data is read and the model trained.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

from hydra.errors import HydraException
from lightning_fabric.utilities.exceptions import MisconfigurationException
from omegaconf.errors import OmegaConfBaseException

EXIT_DATA_ERROR = 1
EXIT_CONFIG_ERROR = 2
EXIT_USER_ERROR = EXIT_CONFIG_ERROR  # the former name of the config exit code

USER_FULL_ERROR = "RNNKIT_USER_HYDRA_FULL_ERROR"
"""The user's own ``HYDRA_FULL_ERROR``, kept while :func:`reporting_exit_codes` sets it."""

log = logging.getLogger("rnnkit")

RENAMED_KEYS = {
    "data.file": "data.path (every file-backed dataset takes data.path; Tatoeba's pair file "
    "was data.file before 2026-12)",
    "data.max_tokens": "data.max_length with data.truncation=head (IMDB's max_tokens before "
    "2026-12; checkpoints that stored it are read as that)",
}
"""Config keys a user may still type that are now other keys: what to use instead."""
MISSING_KEY_OVERRIDE = re.compile(
    r"Could not override '([\w.]+)'\.\s*To append to your config use (\S+)"
)


class ConfigError(ValueError):
    """A bad command-line or config value, named by its key: the CLI exits with 2."""


CONFIG_ERRORS = (
    ConfigError,
    TypeError,
    OmegaConfBaseException,
    HydraException,
    MisconfigurationException,
)
"""Errors that exit with :data:`EXIT_CONFIG_ERROR`."""
DATA_ERRORS = (ValueError, OSError)
"""Errors that exit with :data:`EXIT_DATA_ERROR` (unless they are :data:`CONFIG_ERRORS`)."""


@contextlib.contextmanager
def config_key(key: str) -> Iterator[None]:
    """Prefix errors raised while building from config ``key`` with that key; they become
    :class:`ConfigError` (exit 2)."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        message = str(error)
        first_word = message.split(" ", 1)[0]
        if "." in first_word.rstrip(".:") and first_word.endswith(":"):
            raise ConfigError(message) from None  # already names its full key
        joiner = "." if first_word[:1].islower() and first_word.endswith(":") else ": "
        raise ConfigError(f"{key}{joiner}{message}") from None


def exit_code(error: BaseException) -> int | None:
    """The exit code of a user error, or None for anything else (a bug: let it through)."""
    if isinstance(error, CONFIG_ERRORS):
        return EXIT_CONFIG_ERROR
    if isinstance(error, DATA_ERRORS):
        return EXIT_DATA_ERROR
    return None


def one_line(error: BaseException) -> str:
    """The error's message on one line, naming the file of an ``OSError``."""
    if isinstance(error, OSError) and error.filename:
        if isinstance(error, FileNotFoundError):
            return f"file not found: {error.filename}"
        reason = (error.strerror or type(error).__name__).lower()
        hint = ""
        if isinstance(error, (PermissionError, NotADirectoryError, IsADirectoryError)):
            hint = " (for the run folder, point paths.log_dir or RNNKIT_LOG_DIR elsewhere)"
        return f"{reason}: {error.filename}{hint}"
    message = str(error)
    if isinstance(error, HydraException):  # Hydra appends where it searched: not the culprit
        message = override_hint(message.split("Config search path:")[0])
    return " ".join(message.split()) or type(error).__name__


def override_hint(message: str) -> str:
    """Hydra's refusal of a ``key=value`` override for a key the config does not have, said
    in rnnkit's words (with the new name of a renamed key); other messages unchanged."""
    match = MISSING_KEY_OVERRIDE.match(message)
    if match is None:
        return message
    key, addition = match.groups()
    if key in RENAMED_KEYS:
        return f"{key}: not a key of this config; use {RENAMED_KEYS[key]}"
    return (
        f"{key}: not a key of this config (rnnkit-train ... --cfg job prints them all); "
        f"check its spelling, or add a key the component takes but its YAML lacks with {addition}"
    )


def _os_error_within(error: BaseException) -> OSError | None:
    """The ``OSError`` an error was raised from (a folder a config resolver could not make:
    the file system, not the config, is at fault), or None."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OSError):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def full_tracebacks() -> bool:
    """Whether the user asked for tracebacks (``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get(USER_FULL_ERROR, os.environ.get("HYDRA_FULL_ERROR")) == "1"


def report(error: BaseException) -> None:
    """Print ``rnnkit: error: <message>`` and exit with the error's code; re-raise anything
    that is not a user error (or everything under ``HYDRA_FULL_ERROR=1``)."""
    if isinstance(error, OmegaConfBaseException):  # a resolver's own error (the run folder)
        error = _os_error_within(error) or error
    code = exit_code(error)
    if code is None or full_tracebacks():
        raise error
    print(f"rnnkit: error: {one_line(error)}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_reporting_errors(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function``; on a user error print ``rnnkit: error: <message>`` and exit 1 (data,
    files) or 2 (command line, config), see the module docstring.

    ``HYDRA_FULL_ERROR=1`` lets the traceback through, as Hydra does for its own errors.
    """
    try:
        return function(*args)
    except (*CONFIG_ERRORS, *DATA_ERRORS) as error:
        report(error)


def reporting_exit_codes(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``@hydra.main`` entry point so Hydra's own failures (an unknown group option, a
    malformed override, an output folder it cannot create) end as one line with our codes.

    Hydra prints a filtered traceback and exits 1 unless ``HYDRA_FULL_ERROR=1``; with it set
    around the call, its errors reach this wrapper instead.
    """

    @functools.wraps(main)
    def entry(*args: Any, **kwargs: Any) -> Any:
        if USER_FULL_ERROR not in os.environ:
            os.environ[USER_FULL_ERROR] = os.environ.get("HYDRA_FULL_ERROR", "")
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            return main(*args, **kwargs)
        except (*CONFIG_ERRORS, *DATA_ERRORS) as error:
            report(error)
        finally:
            users = os.environ.pop(USER_FULL_ERROR)
            if users:
                os.environ["HYDRA_FULL_ERROR"] = users
            else:
                os.environ.pop("HYDRA_FULL_ERROR", None)

    return entry
