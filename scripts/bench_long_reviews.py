"""Bag-of-words baselines on a long-review set, and rnnkit-train runs on it, timed.

The set is written by ``scripts/build_long_reviews.py`` in IMDB's layout and read here through
rnnkit's own IMDB loader (``IMDBDataModule.load_split``: the same train / carved val / test
splits a run trains on, no truncation). Baselines, as a new user would try them: scikit-learn's
``CountVectorizer`` (default settings) then ``MultinomialNB`` or ``LogisticRegression``; and,
to show how much one end of a document tells, Naive Bayes on its first or last
``--window`` tokens only.

Then each ``--run`` (a quoted list of rnnkit-train overrides, ``data=imdb
data.path=<set>`` added) is run one after another, with its wall and CPU time (its process
and children) and the test accuracy it printed::

    python scripts/bench_long_reviews.py --data /tmp/long_reviews \\
        --run "experiment=sentiment" --run "experiment=sentiment model.pooling=max"

``--packing`` times one training pass (forward and backward, one thread, CPU time) of the
sentiment model's BiLSTM (64 -> 2 x 64) over a batch of 64 x 512 steps, all of one length or
of lengths that differ (packed), for ``torch.nn.LSTM`` and ``rnnkit.LSTM``: why
``data.trim_to_shortest`` exists.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from rnnkit.data.sentiment.imdb import IMDBDataModule

SPLITS = ("train", "val", "test")


def load(path: str) -> dict[str, tuple[list[str], list[str]]]:
    """``split -> (texts, labels)`` as rnnkit's IMDB loader reads them (no truncation)."""
    datamodule = IMDBDataModule(path=path)
    splits = {}
    for split in SPLITS:
        examples = list(datamodule.load_split(split))
        splits[split] = ([e["text"] for e in examples], [e["label"] for e in examples])
    return splits


def window(text: str, size: int, end: str) -> str:
    words = text.split()
    return " ".join(words[:size] if end == "head" else words[-size:])


def baselines(splits: dict, size: int) -> list[dict]:
    """Accuracy and time of the bag-of-words baselines (val and test)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB

    models = {
        "MultinomialNB, word counts": (MultinomialNB, {}, None),
        "LogisticRegression, word counts": (LogisticRegression, {"max_iter": 1000}, None),
        f"MultinomialNB, first {size} words only": (MultinomialNB, {}, "head"),
        f"MultinomialNB, last {size} words only": (MultinomialNB, {}, "tail"),
    }
    rows = []
    for name, (model_class, options, end) in models.items():
        wall, cpu = time.perf_counter(), time.process_time()

        def texts(split, end=end):
            return [window(t, size, end) for t in splits[split][0]] if end else splits[split][0]

        vectorizer = CountVectorizer()
        model = model_class(**options).fit(
            vectorizer.fit_transform(texts("train")), splits["train"][1]
        )
        accuracy = {
            split: float(
                (model.predict(vectorizer.transform(texts(split))) == splits[split][1]).mean()
            )
            for split in ("val", "test")
        }
        rows.append(
            {
                "model": name,
                **accuracy,
                "wall_s": round(time.perf_counter() - wall, 1),
                "cpu_s": round(time.process_time() - cpu, 1),
            }
        )
    return rows


def packing(steps: int = 512, batch: int = 64, repeats: int = 2) -> list[dict]:
    """CPU seconds of a forward and backward pass, equal vs differing lengths."""
    import torch

    import rnnkit

    torch.set_num_threads(1)
    torch.manual_seed(0)
    inputs = torch.randn(batch, steps, 64, requires_grad=True)
    layers = {
        "torch.nn.LSTM": torch.nn.LSTM(64, 64, bidirectional=True, batch_first=True),
        "rnnkit.LSTM": rnnkit.LSTM(64, 64, bidirectional=True, batch_first=True),
    }
    cases = {
        "all 512": torch.full((batch,), steps),
        "one of 511, the rest 512": torch.tensor([steps - 1] + [steps] * (batch - 1)),
        "480-512 (a length bucket)": torch.randint(steps - 32, steps + 1, (batch,)),
        "256-512": torch.randint(steps // 2, steps + 1, (batch,)),
    }
    rows = []
    for case, lengths in cases.items():
        for name, layer in layers.items():
            timings = {"forward": 0.0, "backward": 0.0}
            for _ in range(repeats):
                start = time.process_time()
                if name == "rnnkit.LSTM":
                    outputs, _ = layer(inputs, lengths=lengths)
                else:
                    packed = torch.nn.utils.rnn.pack_padded_sequence(
                        inputs, lengths, batch_first=True, enforce_sorted=False
                    )
                    outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(
                        layer(packed)[0], batch_first=True, total_length=steps
                    )
                middle = time.process_time()
                outputs.sum().backward()
                timings["forward"] += (middle - start) / repeats
                timings["backward"] += (time.process_time() - middle) / repeats
            rows.append(
                {"lengths": case, "layer": name, **{k: round(v, 2) for k, v in timings.items()}}
            )
    return rows


def train(overrides: str, data: str) -> dict:
    """One ``rnnkit-train`` run: its overrides, wall and CPU seconds, final metrics."""
    command = [
        sys.executable,
        "-m",
        "rnnkit.cli.train",
        *overrides.split(),
        "data=imdb",
        f"data.path={data}",
        "trainer.enable_progress_bar=false",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = result.stdout + result.stderr
    if result.returncode:
        raise SystemExit(f"rnnkit-train {overrides} failed ({result.returncode}):\n{output}")
    return {
        "run": overrides,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "output": output.strip().splitlines()[-12:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the folder holding aclImdb/")
    parser.add_argument("--window", type=int, default=128, help="words of the one-end baselines")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--run", action="append", default=[], help="rnnkit-train overrides")
    parser.add_argument("--packing", action="store_true", help="time packed vs equal lengths")
    args = parser.parse_args(argv)
    if not (Path(args.data) / "aclImdb").is_dir():
        parser.error(f"--data {args.data}: no aclImdb/ (run scripts/build_long_reviews.py)")
    report = {"date": date.today().isoformat(), "data": args.data}
    if not args.no_baselines:
        report["baselines"] = baselines(load(args.data), args.window)
        print(json.dumps(report["baselines"], indent=2), flush=True)
    if args.packing:
        report["packing"] = packing()
        print(json.dumps(report["packing"], indent=2), flush=True)
    report["runs"] = []
    for overrides in args.run:
        report["runs"].append(train(overrides, args.data))
        print(json.dumps(report["runs"][-1], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
