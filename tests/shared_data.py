"""Where the real benchmark data (``../shared/data``) is, for the tests that need it.

``RNNKIT_DATA_ROOT`` when set (as the configs read it), else ``shared/data`` beside the repo.
Tests on real data call :func:`shared_dataset`, which skips them cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RNNKIT_DATA_ROOT") or REPO.parent / "shared" / "data").resolve()


def shared_dataset(folder: str, marker: str) -> Path:
    """``SHARED_DATA / folder``, or skip the test when ``folder / marker`` is not there."""
    path = SHARED_DATA / folder
    if not (path / marker).is_file():
        pytest.skip(f"the shared {folder} data is not at {path}")
    return path
