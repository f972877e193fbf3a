"""rnnkit.figures stands below tasks and callbacks: it imports nothing else from rnnkit."""

from __future__ import annotations

import sys

from import_helpers import imported_modules

ALLOWED = {"__future__", "matplotlib", "numpy", "torch"}


def test_figures_import_only_plotting_and_tensor_libraries():
    files = imported_modules("figures")
    assert {"offscreen.py", "gradient_flow.py", "confusion_matrix.py"} <= set(files)
    for name, modules in files.items():
        outside = {
            module
            for module in modules
            if not module.startswith("rnnkit.figures.")
            and module.split(".")[0] not in ALLOWED | set(sys.stdlib_module_names)
        }
        assert not outside, f"rnnkit/figures/{name} imports {sorted(outside)}"
