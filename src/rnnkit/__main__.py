"""``rnnkit`` and ``python -m rnnkit``: the version, and every command under one name.

rnnkit --version                       # rnnkit 0.1.0 (no Lightning or Hydra needed)
rnnkit train experiment=sentiment      # = rnnkit-train experiment=sentiment
python -m rnnkit eval ckpt_path=...    # = rnnkit-eval ckpt_path=...
"""

from __future__ import annotations

import importlib
import sys

import rnnkit

COMMANDS = {
    "train": "train a model from a config, then test it",
    "eval": "test a checkpoint on its test split",
    "predict": "predictions of a checkpoint on raw input",
    "draw": "draw a configured model unrolled in time",
    "prepare": "prepare (and export) a dataset",
}

USAGE = "usage: rnnkit [--version] <command> [overrides ...]\n\ncommands:\n" + "".join(
    f"  {name:<9}{text} (rnnkit-{name})\n" for name, text in COMMANDS.items()
)


def main(argv: list[str] | None = None) -> None:
    """Print the version or the usage, or run ``rnnkit-<command>`` with the other arguments."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    first = arguments[0] if arguments else None
    if first in ("--version", "-V"):
        print(f"rnnkit {rnnkit.__version__}")
        return
    if first in (None, "-h", "--help"):
        print(USAGE, end="")
        return
    if first not in COMMANDS:
        print(f"rnnkit: error: unknown command {first!r}\n{USAGE}", end="", file=sys.stderr)
        raise SystemExit(2)
    try:
        command = importlib.import_module(f"rnnkit.cli.{first}")
    except ModuleNotFoundError as error:
        print(
            f"rnnkit: error: rnnkit {first} needs the {error.name} package, which is not "
            "installed: pip install 'rnnkit[train]'",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    sys.argv = [f"rnnkit-{first}", *arguments[1:]]
    command.main()


if __name__ == "__main__":
    main()
