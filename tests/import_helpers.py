"""What a package of rnnkit imports, read from its source (nothing is executed).

Importable from every test module (``pythonpath = ["tests"]`` in pyproject.toml).
"""

from __future__ import annotations

import ast
from pathlib import Path

import rnnkit

SOURCE_ROOT = Path(rnnkit.__file__).parent


def imported_modules(package: str) -> dict[str, set[str]]:
    """``{file name: dotted modules it imports}`` for every file of ``rnnkit.<package>``."""
    found = {}
    for path in sorted((SOURCE_ROOT / package).glob("*.py")):
        modules = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
        found[path.name] = modules
    return found
