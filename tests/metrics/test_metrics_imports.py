"""rnnkit.metrics stands below the tasks: of rnnkit it imports only itself and rnnkit.data."""

from __future__ import annotations

from import_helpers import imported_modules


def test_metrics_import_nothing_from_rnnkit_but_data():
    files = imported_modules("metrics")
    assert {"bleu.py", "entity_f1.py", "perplexity.py"} <= set(files)
    for name, modules in files.items():
        outside = {
            module
            for module in modules
            if module.split(".")[0] == "rnnkit"
            and module.split(".")[:2] not in (["rnnkit", "metrics"], ["rnnkit", "data"])
        }
        assert not outside, f"rnnkit/metrics/{name} imports {sorted(outside)}"
