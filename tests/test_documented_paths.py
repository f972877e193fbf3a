"""The README, docs/ and the config comments name only paths and modules that exist.

Files move (the layout is version 0.x); a page that still names the old place misleads the
next reader, so every repository path (``src/...``, ``docs/...``, ``scripts/...``,
``tests/...``, ``configs/...``) and every dotted ``rnnkit.`` name in them must resolve.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONFIGS = sorted((ROOT / "src" / "rnnkit" / "configs").rglob("*.yaml"))

REPO_PATH = re.compile(r"(?<![\w./<>-])((?:src|docs|scripts|tests|configs)/[\w./-]*[\w/])")
DOTTED_NAME = re.compile(r"(?<![\w.])(rnnkit(?:\.[A-Za-z_]\w*)+)")


def missing_paths(text: str, root: Path) -> list[str]:
    """Repository paths named in ``text`` that do not exist under ``root``."""
    named = {match.rstrip(".") for match in REPO_PATH.findall(text)}
    return sorted(path for path in named if not (root / path).exists())


def unresolved_names(text: str) -> list[str]:
    """Dotted ``rnnkit.`` names in ``text`` that are neither a module nor an attribute of one."""
    return sorted(name for name in set(DOTTED_NAME.findall(text)) if not _resolves(name))


def _resolves(name: str) -> bool:
    parts = name.rstrip(".").split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


@pytest.mark.parametrize("page", PAGES + CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_path_and_module_exists(page):
    text = page.read_text(encoding="utf-8")
    assert missing_paths(text, ROOT) == [], f"{page.relative_to(ROOT)} names missing paths"
    assert unresolved_names(text) == [], f"{page.relative_to(ROOT)} names unknown modules"


def test_a_moved_path_or_module_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("x")
    text = "See docs/here.md and src/rnnkit/data/conll.py, `rnnkit.data.conll.CoNLLDataModule`."
    assert missing_paths(text, tmp_path) == ["src/rnnkit/data/conll.py"]
    assert unresolved_names(text) == ["rnnkit.data.conll.CoNLLDataModule"]
    assert unresolved_names("rnnkit.data.tagging.conll.CoNLLDataModule and rnnkit.LSTM") == []
    assert unresolved_names("rnnkit.data.tagging.conll.NoSuchClass") != []
