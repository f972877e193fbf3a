"""Draw a trained music model's pictures for the docs and compose a MIDI sample.

    .venv/bin/python scripts/music_samples.py <run>/checkpoints/best.ckpt \
        [--output-dir docs/images] [--midi docs/samples/jsb_chorales_lstm.mid] [--steps 64]

Writes ``piano_roll_test.png`` (the first test chorale above the model's probabilities of each
key, the picture TensorBoard shows as ``val/piano_roll``), ``piano_roll_generated.png`` (a piece
composed from nothing, ``val/generated``) and the composed piece as a MIDI file, then checks
that music21 parses the file back to the same notes and prints what it read.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import music21
import torch
from PIL import Image

from rnnkit.cli.checkpoint import load_checkpoint, restore_datamodule, restore_task
from rnnkit.data.music.midi import read_midi_notes, write_midi
from rnnkit.data.music.scores import score_notes
from rnnkit.figures.piano_roll import piano_roll_figure

MAX_BYTES = 120_000


def save_png(figure, path: Path) -> None:
    """The figure as a 128-colour palette PNG (small enough for the repository)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=128)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{path}: {path.stat().st_size} bytes, more than {MAX_BYTES}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--output-dir", default="docs/images")
    parser.add_argument("--midi", default="docs/samples/jsb_chorales_lstm.mid")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(arguments.checkpoint)
    task = restore_task(checkpoint, arguments.checkpoint)
    datamodule = restore_datamodule(checkpoint, source=arguments.checkpoint)
    datamodule.setup("test")
    output = Path(arguments.output_dir)

    batch = next(iter(datamodule.test_dataloader()))
    length = int(batch["lengths"][0])
    roll = batch["rolls"][:1, :length]
    with torch.no_grad():
        probabilities = torch.sigmoid(task(roll))[0]
    name = batch["names"][0]
    save_png(
        piano_roll_figure(
            roll[0].numpy(),
            probabilities=probabilities.numpy(),
            title=f"test chorale {name} (top) and the model's probability of each key (bottom)",
        ),
        output / "piano_roll_test.png",
    )

    composed = task.compose(arguments.steps, temperature=arguments.temperature, seed=arguments.seed)
    composed = composed[0].numpy()
    save_png(
        piano_roll_figure(
            composed,
            title=f"{arguments.steps} quarter notes composed from nothing "
            f"(temperature {arguments.temperature:g}, seed {arguments.seed})",
        ),
        output / "piano_roll_generated.png",
    )
    midi = write_midi(composed, arguments.midi)
    score = music21.converter.parse(midi).stripTies()
    parsed = sorted(score_notes(score))
    assert parsed == sorted(read_midi_notes(midi)), "music21 read other notes than the file holds"
    pitches = sorted({p for p, _, _ in parsed})
    print(
        f"{midi}: music21 parsed the {len(parsed)} notes written, over {score.highestTime:g} "
        f"quarter notes in {len(score.parts)} voices, pitches {pitches[0]}-{pitches[-1]}; "
        f"test piece {name}: {length} steps"
    )


if __name__ == "__main__":
    main()
