"""Command-line entry points: rnnkit-train, rnnkit-eval, rnnkit-predict, rnnkit-draw.

Each ``rnnkit-<command>`` is also ``python -m rnnkit.cli.<command>`` (same arguments).
"""

from rnnkit.cli.run_folders import register_run_dir_resolver

# Before any command composes its config: src/rnnkit/configs/hydra/default.yaml names run
# folders with it.
register_run_dir_resolver()
