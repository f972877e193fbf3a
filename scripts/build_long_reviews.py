"""Build a long-document sentiment set ("long reviews", 200-2,000 tokens) with no network.

Every document is assembled from public sentences in ``shared/data`` (SOURCES.md):

* polar sentences from GLUE SST-2: training documents from ``train.tsv`` phrases of at least
  ``--min-sentence-tokens`` tokens, validation documents from ``dev.tsv``, test documents from
  ``test_labeled.tsv``, so the three splits share no sentence;
* neutral sentences from Multi30k's English image captions (``train.en``, ``val.en``,
  ``test_2016_flickr.en`` for the same three splits), lower-cased and split into words and
  punctuation as SST-2 is.

A document of label ``y`` gets a length drawn log-uniformly in ``[--min-tokens, --max-tokens]``
tokens (the IMDB loader's tokens), a share of polar sentences drawn uniformly in
``[0.25, 0.5]`` (the rest are neutral) and a share of those agreeing with ``y`` drawn uniformly
in ``[0.6, 0.8]`` (the rest have the other polarity), each sentence placed at random; a
document whose polar sentences do not hold a strict majority for ``y`` is drawn again. So the
label is decided by the balance over the whole document: neither its start nor its end
alone decides it (``scripts/bench_long_reviews.py`` measures how much each tells).
Sentences are grouped into paragraphs of 3-7 joined by ``<br /><br />``, as IMDB's are.

The set is written in the IMDB loader's format, ``<out>/aclImdb/{train,test}/{pos,neg}/
<id>_<rating>.txt``, so ``data=imdb data.path=<out>`` reads it. The loader carves its
validation split from ``train/`` (``val_ratio`` of each label, chosen by ``split_seed``): the
files it will carve are the ones written from the validation sources (``dev.tsv`` and
``val.en``), found with the loader's own :func:`~rnnkit.data.io.reading.carved_mask`; build
with the ``--val-ratio`` and ``--split-seed`` the loader is given (the defaults are
``data=imdb``'s). ``<out>/aclImdb/build.json`` records the arguments and counts.

Deterministic: the same arguments write the same files (about 25 s, 13 MB with the defaults)::

    python scripts/build_long_reviews.py --shared ../shared/data --out /tmp/long_reviews
    rnnkit-train experiment=sentiment data=imdb data.path=/tmp/long_reviews
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from pathlib import Path

from rnnkit.data.io.reading import carved_mask
from rnnkit.data.sentiment.imdb import LABEL_FOLDERS, TOKEN

LABELS = ("negative", "positive")
FOLDERS = {label: folder for folder, label in LABEL_FOLDERS.items()}
POLAR_SHARE = (0.25, 0.5)
AGREEING_SHARE = (0.6, 0.8)
PARAGRAPH_SENTENCES = (3, 7)


def read_sst2(path: Path, min_tokens: int) -> dict[str, list[str]]:
    """``{"negative": [...], "positive": [...]}`` sentences of an SST-2 TSV file with at least
    ``min_tokens`` tokens (the header skipped, fields stripped)."""
    sentences: dict[str, list[str]] = {label: [] for label in LABELS}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        text, separator, label = line.rpartition("\t")
        if not separator or label.strip() not in ("0", "1"):
            raise ValueError(f"{path}, line {number}: expected 'sentence<TAB>0|1', got {line!r}")
        text = " ".join(text.split())
        if len(TOKEN.findall(text)) >= min_tokens:
            sentences[LABELS[int(label)]].append(text)
    return sentences


def read_captions(path: Path) -> list[str]:
    """Multi30k captions, lower-cased and split into words and punctuation (SST-2's style)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [" ".join(TOKEN.findall(line.lower())) for line in lines if line.strip()]


def document(
    label: str,
    polar: dict[str, list[str]],
    neutral: list[str],
    rng: random.Random,
    min_tokens: int,
    max_tokens: int,
) -> tuple[str, dict[str, float]]:
    """One review of ``label`` and what it is made of (tokens, sentence counts, shares)."""
    other = LABELS[1 - LABELS.index(label)]
    target = round(math.exp(rng.uniform(math.log(min_tokens), math.log(max_tokens))))
    while True:
        polar_share = rng.uniform(*POLAR_SHARE)
        agreeing_share = rng.uniform(*AGREEING_SHARE)
        sentences, counts, tokens = [], {"agreeing": 0, "opposing": 0, "neutral": 0}, 0
        while True:
            if rng.random() >= polar_share:
                kind, sentence = "neutral", rng.choice(neutral)
            elif rng.random() < agreeing_share:
                kind, sentence = "agreeing", rng.choice(polar[label])
            else:
                kind, sentence = "opposing", rng.choice(polar[other])
            size = len(TOKEN.findall(sentence))
            if tokens + size > max_tokens:
                break
            sentences.append(sentence)
            counts[kind] += 1
            tokens += size
            if tokens >= target:
                break
        if tokens >= min_tokens and counts["agreeing"] > counts["opposing"]:
            break
    paragraphs, start = [], 0
    while start < len(sentences):
        end = start + rng.randint(*PARAGRAPH_SENTENCES)
        paragraphs.append(" ".join(sentences[start:end]))
        start = end
    return " <br /><br /> ".join(paragraphs), {"tokens": tokens, **counts}


def rating(label: str, counts: dict[str, float]) -> int:
    """An IMDB-like rating (1-4 negative, 7-10 positive) from the share of agreeing polar
    sentences: only the file name carries it, nothing reads it."""
    share = counts["agreeing"] / (counts["agreeing"] + counts["opposing"])
    strength = min(3, int((share - 0.5) * 8))  # 0..3
    return 7 + strength if label == "positive" else 4 - strength


def build(args: argparse.Namespace) -> dict:
    shared = Path(args.shared)
    sst2, multi30k = shared / "sst2", shared / "multi30k"
    sources = {
        "train": (
            read_sst2(sst2 / "train.tsv", args.min_sentence_tokens),
            read_captions(multi30k / "train.en"),
        ),
        "val": (read_sst2(sst2 / "dev.tsv", 1), read_captions(multi30k / "val.en")),
        "test": (
            read_sst2(sst2 / "test_labeled.tsv", 1),
            read_captions(multi30k / "test_2016_flickr.en"),
        ),
    }
    root = Path(args.out).expanduser() / "aclImdb"
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(args.seed)
    # train/ holds the training and the validation documents: file i of a label folder is a
    # validation document when the loader will carve it (IMDB's file-name order: neg, then pos).
    per_label = {"train": args.train // 2, "test": args.test // 2}
    order = [label for label in LABELS for _ in range(per_label["train"])]
    carved = carved_mask(order, args.val_ratio, args.split_seed)
    stats: dict[str, dict[str, list[float]]] = {}
    for folder in ("train", "test"):
        for label in LABELS:
            directory = root / folder / FOLDERS[label]
            directory.mkdir(parents=True)
            for index in range(per_label[folder]):
                split = folder
                if folder == "train" and carved[LABELS.index(label) * per_label["train"] + index]:
                    split = "val"
                polar, neutral = sources[split]
                text, counts = document(
                    label, polar, neutral, rng, args.min_tokens, args.max_tokens
                )
                name = f"{index:05d}_{rating(label, counts)}.txt"
                (directory / name).write_text(text + "\n", encoding="utf-8")
                for key, value in counts.items():
                    stats.setdefault(split, {}).setdefault(key, []).append(value)
    summary = {
        "arguments": vars(args),
        "documents": {split: len(values["tokens"]) for split, values in stats.items()},
        "tokens": {
            split: {
                "min": min(values["tokens"]),
                "median": sorted(values["tokens"])[len(values["tokens"]) // 2],
                "mean": round(sum(values["tokens"]) / len(values["tokens"]), 1),
                "max": max(values["tokens"]),
            }
            for split, values in stats.items()
        },
        "sentences_per_document": {
            split: {
                kind: round(sum(values[kind]) / len(values[kind]), 1)
                for kind in ("agreeing", "opposing", "neutral")
            }
            for split, values in stats.items()
        },
    }
    (root / "build.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def positive_even(text: str) -> int:
    value = int(text)
    if value < 2 or value % 2:
        raise argparse.ArgumentTypeError(f"expected an even integer >= 2, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default="../shared/data", help="folder of sst2/, multi30k/")
    parser.add_argument("--out", required=True, help="writes <out>/aclImdb/ (replaced)")
    parser.add_argument("--train", type=positive_even, default=2400, help="train+val documents")
    parser.add_argument("--test", type=positive_even, default=600, help="test documents")
    parser.add_argument("--min-tokens", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=2000)
    parser.add_argument("--min-sentence-tokens", type=int, default=8, help="train.tsv phrases")
    parser.add_argument("--val-ratio", type=float, default=0.1, help="data.val_ratio")
    parser.add_argument("--split-seed", type=int, default=0, help="data.split_seed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.min_tokens < args.max_tokens:
        parser.error(f"--min-tokens {args.min_tokens} must be >= 1 and < --max-tokens")
    for needed in ("sst2/train.tsv", "sst2/dev.tsv", "sst2/test_labeled.tsv", "multi30k/val.en"):
        if not (Path(args.shared) / needed).is_file():
            parser.error(f"--shared {args.shared}: {needed} not found (see shared/data/SOURCES.md)")
    return args


def main(argv: list[str] | None = None) -> int:
    summary = build(parse_args(argv))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
