"""Time reading pretrained word vectors for a vocabulary (rnnkit.data.io.word_vectors).

Writes a GloVe-style text file of ``--words`` random words of ``--dimension`` values (the
size of glove.6B.100d.txt by default: 400,000 x 100), then reads it for a vocabulary of
``--vocabulary`` of its words (every other one upper-cased, so half match case-insensitively)
and prints the file size, the wall time and the process's peak resident memory (the file is
streamed: memory follows the vocabulary, not the file).

    python scripts/bench_word_vectors.py --words 400000 --dimension 100 --vocabulary 20000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from rnnkit.data.io.word_vectors import read_word_vectors


def write_file(path: Path, words: int, dimension: int) -> list[str]:
    generator = np.random.default_rng(0)
    names = [f"w{i}x" for i in range(words)]
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, words, 10_000):
            block = generator.normal(0, 0.4, (min(10_000, words - start), dimension))
            for name, row in zip(names[start:], block):
                handle.write(name + " " + " ".join(f"{v:.5f}" for v in row) + "\n")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=400_000)
    parser.add_argument("--dimension", type=int, default=100)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vectors.txt"
        names = write_file(path, arguments.words, arguments.dimension)
        step = max(1, len(names) // arguments.vocabulary)
        chosen = names[::step][: arguments.vocabulary]
        vocabulary = ["<pad>", "<unk>"] + [w.upper() if i % 2 else w for i, w in enumerate(chosen)]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        vectors = read_word_vectors(path, vocabulary)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = path.stat().st_size / 2**20
    print(f"file: {arguments.words:,} words x {arguments.dimension} ({size:.0f} MiB)")
    print(f"vocabulary: {len(vocabulary):,}; {vectors.coverage(examples=0)}")
    print(f"read in {elapsed:.2f} s; the process's peak resident memory {before:.0f} MiB before")
    print(f"reading (imports, file written), {peak:.0f} MiB after")


if __name__ == "__main__":
    main()
