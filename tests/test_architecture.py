"""Architecture: rnnkit's modules import each other without cycles, and in floor order.

The import graph is read from the source with :mod:`ast` (nothing is imported): every
``import`` / ``from ... import`` anywhere in a file counts, inside functions and
``if TYPE_CHECKING:`` blocks too. ``from pkg import name`` is an edge to ``pkg.name`` when
that is a module, else to ``pkg``; only edges to rnnkit's own modules count.

Floors: each top-level subpackage may import only the subpackages :data:`MAY_IMPORT` lists
(and itself). Modules directly under ``rnnkit/`` other than ``__init__.py`` are entry points,
on the ``cli`` floor. ``rnnkit/__init__.py`` may import :data:`TOP_LEVEL_MAY_IMPORT`, and
importing ``rnnkit`` itself counts as importing those.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "rnnkit"

EVERYTHING = "*"
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "cells": (),
    "layers": ("cells",),
    "patterns": ("layers", "cells"),
    "data": (),
    "metrics": ("data",),
    "figures": (),
    "diagrams": (),
    "tasks": ("patterns", "layers", "cells", "data", "metrics", "figures"),
    "callbacks": ("tasks", "layers", "cells", "figures", "metrics"),
    "cli": (EVERYTHING,),
    "configs": (),
}
TOP_LEVEL_MAY_IMPORT = ("cells", "layers")
TOP_LEVEL = "__init__"  # the floor of the package's own __init__.py

DATA_SHARED = ("io", "datamodule", "builtin")
"""Inside ``rnnkit.data``: the rooms every task package may use. ``io`` itself uses only ``io``,
the top-level modules (the base class, the built-in finder) use only ``io``, and no task package
uses another."""


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root`` (package ``package``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` it imports (itself excluded)."""
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: this package, or level - 1 packages above it
                    above = package.rsplit(".", node.level - 1)[0]
                    base = f"{above}.{base}" if base else above
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in modules else base)
        graph[name] = {target for target in targets if target in modules} - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles, each as ``[a, b, ..., a]``; empty when the graph is acyclic.

    A depth-first search reports every edge back into the current path, so each cycle
    shows up at least once (not every cycle through the same modules is listed).
    """
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        path.append(module)
        for target in sorted(graph[module]):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return cycles


def floor_of(module: str, modules: dict[str, Path]) -> str:
    """The subpackage ``module`` belongs to; ``cli`` for other modules directly in the root."""
    parts = module.split(".")
    if len(parts) == 1:
        return TOP_LEVEL
    if len(parts) == 2 and modules[module].name != "__init__.py":
        return "cli"
    return parts[1]


def unknown_floors(modules: dict[str, Path]) -> list[str]:
    """Subpackages that :data:`MAY_IMPORT` does not list, with what to do about it."""
    floors = {floor_of(module, modules) for module in modules} - {TOP_LEVEL, *MAY_IMPORT}
    return [
        f"subpackage {floor!r} is missing from MAY_IMPORT in tests/test_architecture.py: "
        "add it to the table with the subpackages it may import"
        for floor in sorted(floors)
    ]


def floor_violations(graph: dict[str, set[str]], modules: dict[str, Path]) -> list[str]:
    """``importer imports imported: <floor> may import only ...`` for every forbidden edge."""
    violations = []
    for module in sorted(graph):
        floor = floor_of(module, modules)
        allowed = TOP_LEVEL_MAY_IMPORT if floor == TOP_LEVEL else MAY_IMPORT.get(floor, ())
        if EVERYTHING in allowed:
            continue
        for target in sorted(graph[module]):
            target_floor = floor_of(target, modules)
            needs = TOP_LEVEL_MAY_IMPORT if target_floor == TOP_LEVEL else (target_floor,)
            if not set(needs) <= {floor, *allowed}:
                rule = ", ".join(allowed) or "(none)"
                violations.append(f"{module} imports {target}: {floor} may import only {rule}")
    return violations


def data_room_violations(graph: dict[str, set[str]], package: str = "rnnkit.data") -> list[str]:
    """``importer imports imported: ...`` for every edge inside ``package`` between rooms that
    :data:`DATA_SHARED` does not allow (a room: a subpackage or a top-level module of data)."""

    def room(module: str) -> str | None:
        rest = module[len(package) + 1 :] if module.startswith(package + ".") else None
        return rest.split(".")[0] if rest else None

    violations = []
    for module in sorted(graph):
        source = room(module)
        if source is None:
            continue
        if source == "io":
            allowed = {"io"}
        elif source in DATA_SHARED:
            allowed = {source, "io"}
        else:
            allowed = {source, *DATA_SHARED}
        for target in sorted(graph[module]):
            if (target_room := room(target)) is not None and target_room not in allowed:
                rule = (
                    ", ".join(sorted(allowed - {source})) or "nothing else of data"
                    if source in DATA_SHARED
                    else ", ".join(DATA_SHARED)
                )
                violations.append(f"{module} imports {target}: {source} may use only {rule}")
    return violations


def rnnkit_modules() -> dict[str, Path]:
    return find_modules(SOURCE, "rnnkit")


def test_rnnkit_has_no_import_cycles():
    cycles = find_cycles(import_graph(rnnkit_modules()))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_subpackage_is_in_the_floor_table():
    unknown = unknown_floors(rnnkit_modules())
    assert not unknown, "\n".join(unknown)


def test_rnnkit_imports_follow_the_floor_order():
    modules = rnnkit_modules()
    violations = floor_violations(import_graph(modules), modules)
    assert not violations, "imports against the floor order:\n" + "\n".join(violations)


def test_data_task_packages_use_only_the_shared_rooms():
    violations = data_room_violations(import_graph(rnnkit_modules()))
    assert not violations, "imports between data's rooms:\n" + "\n".join(violations)


# ---- the checks themselves, on a tiny fake package --------------------------------------


def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for relative, text in {"__init__.py": "", **files}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return find_modules(root, "fake")


def test_the_graph_sees_every_kind_of_import(tmp_path):
    modules = write_package(
        tmp_path,
        {
            "cells/__init__.py": "from fake.cells.base import Cell\n",
            "cells/base.py": "import torch\nclass Cell: ...\n",
            "layers/__init__.py": "",
            "layers/a.py": "from ..cells import base\nfrom . import b\n",
            "layers/b.py": "def f():\n    import fake.cells.base as cb\n",
            "layers/c.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from fake.cells import Cell\n",
            "tool.py": "from fake import layers\nimport fake\n",
        },
    )
    assert import_graph(modules) == {
        "fake": set(),
        "fake.cells": {"fake.cells.base"},
        "fake.cells.base": set(),
        "fake.layers": set(),
        "fake.layers.a": {"fake.cells.base", "fake.layers.b"},
        "fake.layers.b": {"fake.cells.base"},
        "fake.layers.c": {"fake.cells"},
        "fake.tool": {"fake", "fake.layers"},
    }
    assert floor_of("fake.tool", modules) == "cli"
    assert floor_of("fake.layers", modules) == "layers"


def test_a_two_module_cycle_is_reported(tmp_path):
    modules = write_package(
        tmp_path,
        {
            "layers/__init__.py": "",
            "layers/runner.py": "from fake.layers.loop import step\ndef run(): ...\n",
            "layers/loop.py": "def step():\n    from .runner import run\n",
        },
    )
    cycles = find_cycles(import_graph(modules))
    assert [" -> ".join(c) for c in cycles] == [
        "fake.layers.loop -> fake.layers.runner -> fake.layers.loop"
    ]


def test_an_import_below_the_floor_is_reported(tmp_path):
    modules = write_package(
        tmp_path,
        {
            "cells/__init__.py": "",
            "cells/lstm.py": "from fake.tasks.base import Task\n",
            "tasks/__init__.py": "",
            "tasks/base.py": "import fake\nfrom fake.cells.lstm import LSTM\nclass Task: ...\n",
            "data/__init__.py": "",
            "data/conll.py": "import fake\n",
        },
    )
    assert floor_violations(import_graph(modules), modules) == [
        "fake.cells.lstm imports fake.tasks.base: cells may import only (none)",
        "fake.data.conll imports fake: data may import only (none)",
    ]


def test_a_subpackage_missing_from_the_table_is_reported(tmp_path):
    modules = write_package(tmp_path, {"plots/__init__.py": "", "cells/__init__.py": ""})
    assert unknown_floors(modules) == [
        "subpackage 'plots' is missing from MAY_IMPORT in tests/test_architecture.py: "
        "add it to the table with the subpackages it may import"
    ]


def test_a_data_package_using_another_task_package_is_reported(tmp_path):
    modules = write_package(
        tmp_path,
        {
            "data/__init__.py": "",
            "data/datamodule.py": "",
            "data/io/__init__.py": "",
            "data/io/reading.py": "from fake.data.tagging.conll import x\n",
            "data/tagging/__init__.py": "",
            "data/tagging/conll.py": "from fake.data.io.reading import r\n"
            "from fake.data.datamodule import D\nfrom fake.data.tagging import conll\n",
            "data/captioning/__init__.py": "",
            "data/captioning/coco.py": "from fake.data.translation.text import T\n",
            "data/translation/__init__.py": "",
            "data/translation/text.py": "",
        },
    )
    assert data_room_violations(import_graph(modules), "fake.data") == [
        "fake.data.captioning.coco imports fake.data.translation.text: captioning may use only "
        "io, datamodule, builtin",
        "fake.data.io.reading imports fake.data.tagging.conll: io may use only nothing else "
        "of data",
    ]
