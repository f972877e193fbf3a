"""Render the five canonical I/O patterns (and a few variants) as PNGs for the docs.

    .venv/bin/python scripts/draw_patterns.py [--output-dir docs/images]

Writes ``pattern_<name>.png`` for each of rnnkit.diagrams.PATTERNS and ``variant_<name>.png``
(bidirectional stacking, the LSTM cell state, attention), each a small palette PNG (<= 60 KB).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

from rnnkit.diagrams import ArchitectureSpec, draw_unrolled

MAX_BYTES = 60_000
PATTERN_SPECS = {
    "one_to_one": ArchitectureSpec("one_to_one", "rnn"),
    "one_to_many": ArchitectureSpec("one_to_many", "rnn"),
    "many_to_one": ArchitectureSpec("many_to_one", "rnn"),
    "many_to_many": ArchitectureSpec("many_to_many", "rnn"),
    "encoder_decoder": ArchitectureSpec("encoder_decoder", "rnn"),
}
VARIANT_SPECS = {
    "bidirectional_stacked": ArchitectureSpec(
        "many_to_many", "gru", num_layers=2, bidirectional=True
    ),
    "lstm_cell_state": ArchitectureSpec("many_to_one", "lstm", bidirectional=True),
    "attention": ArchitectureSpec("encoder_decoder", "gru", attention="additive"),
}


def write_png(spec: ArchitectureSpec, path: Path) -> int:
    """Draw ``spec``, reduce it to a 128-colour palette PNG at ``path``; return its size."""
    buffer = io.BytesIO()
    draw_unrolled(spec).savefig(buffer, format="png", dpi=150, metadata={"Software": None})
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, expected at most {MAX_BYTES}")
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("docs/images"))
    arguments = parser.parse_args()
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(f"pattern_{name}", spec) for name, spec in PATTERN_SPECS.items()]
    jobs += [(f"variant_{name}", spec) for name, spec in VARIANT_SPECS.items()]
    for stem, spec in jobs:
        path = arguments.output_dir / f"{stem}.png"
        print(f"{path}  {write_png(spec, path) / 1000:.1f} KB")


if __name__ == "__main__":
    main()
