"""Decode a trained speech model's test split greedily, by prefix beam search, and by the
beam that spells only the training transcripts' words; print the error rates of each and the
greedy decoder's wrong words that are no training word (spelling slips).

    RNNKIT_DATA_ROOT=../shared/data .venv/bin/python scripts/compare_ctc_decoders.py \\
        <run>/checkpoints/best.ckpt [more checkpoints] [--beam-size 8]

The lexicon is read from the training split's transcripts, so checkpoints saved before the
datamodule kept its words (2026-12-05) are compared too. The error rates are torchmetrics',
as the task logs them.
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from torchmetrics.functional.text import char_error_rate, word_error_rate

from rnnkit.cli.checkpoint import load_checkpoint, restore_datamodule, restore_task
from rnnkit.tasks.speech import word_lexicon


def compare(path: str, beam_size: int) -> None:
    checkpoint = load_checkpoint(path)
    task = restore_task(checkpoint, path).eval()
    data = restore_datamodule(checkpoint, source=path)
    words = data.words or sorted(  # a checkpoint from before the datamodule kept them
        {w for e in data.load_split("train") for w in data.transcript(e).split(" ")}
    )
    lexicon = word_lexicon(words, data.characters)
    batch = data.collate([data.encode(e) for e in data.load_split("test")])
    references = batch["transcripts"]
    with torch.no_grad():
        output = task(batch["features"], batch["lengths"])
    beam = {"method": "beam", "beam_size": beam_size, "min_label_prob": task.min_label_prob}
    decoders = {
        "greedy": {"method": "greedy"},
        "beam": beam,
        "lexicon beam": {**beam, "lexicon": lexicon},
    }
    print(f"{path}: {len(references)} test utterances")
    print("| decoder | CER | WER | sentence error |\n| --- | --- | --- | --- |")
    for name, options in decoders.items():
        texts = [data.decode_labels(h.labels) for h in task.model.decode(output, **options)]
        wrong = sum(t != r for t, r in zip(texts, references)) / len(references)
        cer, wer = (
            float(char_error_rate(texts, references)),
            float(word_error_rate(texts, references)),
        )
        print(f"| {name} | {cer:.2%} | {wer:.2%} | {wrong:.1%} |")
        if name == "greedy":
            greedy = texts
    known = set(words)
    slips = Counter(w for t in greedy for w in t.split() if w not in known)
    print(f"greedy words that are no training word: {sum(slips.values())} {slips.most_common(6)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--beam-size", type=int, default=8)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    for path in arguments.checkpoints:
        compare(path, arguments.beam_size)


if __name__ == "__main__":
    main()
