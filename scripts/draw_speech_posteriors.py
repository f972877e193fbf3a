"""Draw a trained speech model's log-mel spectrogram and CTC posteriors for one test utterance.

    RNNKIT_DATA_ROOT=../shared/data .venv/bin/python scripts/draw_speech_posteriors.py \\
        <run>/checkpoints/best.ckpt [--index 0] [--output docs/images/speech_ctc_posteriors.png]

The utterance is the ``--index``-th of the checkpoint's test split (its data config, e.g. the
FSDD connected digits); the figure is the one the task logs to TensorBoard
(:func:`rnnkit.figures.ctc_posteriors.ctc_posteriors_figure`), reduced to a palette PNG.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch
from PIL import Image

from rnnkit.cli.checkpoint import load_checkpoint, restore_datamodule, restore_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--output", default="docs/images/speech_ctc_posteriors.png")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(arguments.checkpoint)
    task = restore_task(checkpoint, arguments.checkpoint).eval()
    datamodule = restore_datamodule(checkpoint, source=arguments.checkpoint)
    example = datamodule.load_split("test")[arguments.index]
    batch = datamodule.collate([datamodule.encode(example)])
    with torch.no_grad():
        output = task(batch["features"], batch["lengths"])
        prediction = task.transcribe(output)
    figure = task.posteriors_figure(batch, output, prediction)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=128)
    Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
    image.save(arguments.output, optimize=True)
    print(f"{arguments.output}: {example['source']}")
    print(f"reference:  {batch['transcripts'][0]}\nprediction: {prediction[0]}")


if __name__ == "__main__":
    main()
