"""Pretrained word embeddings (``model.embedding``: ``pretrained``, ``freeze``) in the sentiment,
tagging (with and without character features) and translation (encoder and decoder) tasks,
trained on vectors files the tests write for the built-in data's vocabularies."""

from __future__ import annotations

import gzip
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.errors import exit_code
from rnnkit.cli.train import build_datamodule, train
from rnnkit.data.io.vocabulary import Vocabulary
from rnnkit.tasks.base import RecurrentTask
from rnnkit.tasks.pretrained_embeddings import load_pretrained, pretrained_embedding

QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.enable_progress_bar=false",
    "test=false",
    "logger=csv",
]
SMALL = {
    "sentiment": ["experiment=sentiment", "cell.hidden_size=8", "model.embedding_dim=6"],
    "tagging": ["experiment=tagging", "cell.hidden_size=8", "model.embedding_dim=6"],
    "translation": [
        "experiment=translation",
        "cell.hidden_size=8",
        "model.embedding_dim=6",
        "model.source_embedding_dim=5",
        "data.max_number=999",
        "data.num_val=32",
        "data.num_test=32",
    ],
}


def word_vector(word: str, dimension: int) -> np.ndarray:
    """A fixed vector per word (so a test knows what each row must hold)."""
    seed = int.from_bytes(word.lower().encode(), "little") % (2**32)
    return np.random.default_rng(seed).normal(0, 0.5, dimension).round(5).astype(np.float32)


def write_vectors(path: Path, words: list[str], dimension: int, header: bool = False) -> Path:
    """A vectors file for ``words``: every other word in upper case (found only by the
    case-insensitive fallback), plus words outside the vocabulary."""
    lines = [f"{len(words) + 2} {dimension}"] if header else []
    for i, word in enumerate([*words, "zzz-other", "yyy-other"]):
        shown = word.upper() if i % 2 else word
        lines.append(shown + " " + " ".join(f"{v:.5f}" for v in word_vector(word, dimension)))
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fitted_vocabularies(overrides: list[str], tmp_path: Path) -> dict[str, Vocabulary]:
    datamodule = build_datamodule(compose_run(overrides, tmp_path / "vocab").data)
    datamodule.setup("fit")
    names = ("vocab", "source_vocab", "target_vocab")
    return {name: getattr(datamodule, name) for name in names if hasattr(datamodule, name)}


def covered_words(vocabulary: Vocabulary) -> list[str]:
    """Three words of four: the rest stay unknown to the file."""
    return [t for i, t in enumerate(vocabulary.tokens[2:]) if i % 4 != 3]


def trained_task(overrides: list[str], tmp_path: Path) -> RecurrentTask:
    with one_thread():
        train(compose_run([*QUICK, *overrides], tmp_path))
    (last,) = tmp_path.rglob("last.ckpt")
    return RecurrentTask.load_from_checkpoint(last)


def assert_rows(embedding: nn.Embedding, vocabulary: Vocabulary, words: list[str]) -> None:
    weight = embedding.weight.detach()
    dimension = weight.shape[1]
    for word in words:
        expected = torch.from_numpy(word_vector(word, dimension))
        torch.testing.assert_close(weight[vocabulary.index[word]], expected)
    assert not weight[vocabulary.pad_index].any()
    unknown = [vocabulary.index[t] for t in vocabulary.tokens[2:] if t not in set(words)]
    assert unknown and weight[unknown].abs().sum(1).gt(0).all()  # drawn, not left at zero


@pytest.mark.parametrize("task_name", ["sentiment", "tagging", "tagging_chars"])
def test_a_frozen_pretrained_embedding_keeps_the_file_rows(tmp_path, caplog, task_name):
    overrides = list(SMALL[task_name.split("_")[0]])
    if task_name == "tagging_chars":
        overrides = [
            "experiment=conll2003_bilstm_crf",
            "cell.hidden_size=8",
            "model.embedding_dim=6",
            *CONLL_DATA(tmp_path),
        ]
    vocabulary = fitted_vocabularies(overrides, tmp_path)["vocab"]
    words = covered_words(vocabulary)
    vectors = write_vectors(tmp_path / "vectors.vec.gz", words, 6, header=True)
    with caplog.at_level(logging.INFO, logger="rnnkit"):
        task = trained_task(
            [*overrides, f"model.embedding.pretrained={vectors}", "model.embedding.freeze=true"],
            tmp_path / "run",
        )
    if task_name == "tagging_chars":
        embedding = task.char_embedding.word_embedding
    else:
        embedding = task.model.input_layer
    assert not embedding.weight.requires_grad  # frozen again when the checkpoint is loaded
    assert_rows(embedding, vocabulary, words)
    exact = sum(1 for i, word in enumerate(words) if i % 2 == 0 or word.upper() == word)
    coverage = f"{len(words):,} of {len(vocabulary) - 2:,} words found in {vectors.name} "
    coverage += f"({exact:,} exact, {len(words) - exact:,} case-insensitive)"
    assert any(coverage in record.getMessage() for record in caplog.records), caplog.text


def CONLL_DATA(tmp_path: Path) -> list[str]:  # noqa: N802 (a constant-like helper)
    """A tiny CoNLL-2003 folder in ``tmp_path`` (the reference experiment's data overrides)."""
    folder = tmp_path / "conll"
    folder.mkdir(exist_ok=True)
    sentences = [
        ("EU rejects German call", "I-ORG O I-MISC O"),
        ("Peter Blackburn went to Paris", "I-PER I-PER O O I-LOC"),
        ("BRUSSELS 1996-08-22", "I-LOC O"),
    ]
    text = "-DOCSTART- -X- -X- O\n\n" + "".join(
        "".join(f"{w} NN O {t}\n" for w, t in zip(s.split(), tags.split())) + "\n"
        for s, tags in sentences * 4
    )
    for name in ("eng.train", "eng.testa", "eng.testb"):
        (folder / name).write_text(text)
    return [f"data.path={folder}", "data.min_frequency=1", "data.cache_dir=null"]


def test_translation_starts_encoder_and_decoder_from_their_own_files(tmp_path):
    overrides = SMALL["translation"]
    vocabularies = fitted_vocabularies(overrides, tmp_path)
    source_words = covered_words(vocabularies["source_vocab"])
    target_words = covered_words(vocabularies["target_vocab"])
    source = write_vectors(tmp_path / "en.txt", source_words, 5)  # GloVe style: no header
    target = write_vectors(tmp_path / "de.vec", target_words, 6, header=True)
    task = trained_task(
        [
            *overrides,
            f"model.source_embedding.pretrained={source}",
            "model.source_embedding.freeze=true",
            f"model.embedding.pretrained={target}",
            "model.embedding.freeze=true",
        ],
        tmp_path / "run",
    )
    assert_rows(task.model.source_embedding, vocabularies["source_vocab"], source_words)
    assert_rows(task.model.decoder.embedding, vocabularies["target_vocab"], target_words)


def test_an_unfrozen_embedding_trains_and_a_resumed_run_never_rereads_the_file(tmp_path):
    overrides = SMALL["sentiment"]
    vocabulary = fitted_vocabularies(overrides, tmp_path)["vocab"]
    vectors = write_vectors(tmp_path / "vectors.txt", vocabulary.tokens[2:], 6)
    task = trained_task([*overrides, f"model.embedding.pretrained={vectors}"], tmp_path / "run")
    weight = task.model.input_layer.weight
    assert weight.requires_grad
    expected = torch.stack([torch.from_numpy(word_vector(w, 6)) for w in vocabulary.tokens[2:]])
    moved = (weight.detach()[2:] - expected).abs().amax(1)
    assert 0 < moved.max() < 0.5  # started from the file's rows, then trained
    # Resuming takes the weights from the checkpoint, never from the vectors file: a file whose
    # second line (a vocabulary word's) is now malformed would stop a run that read it.
    first = vectors.read_text().splitlines()[0]
    vectors.write_text(f"{first}\n{vocabulary.tokens[3]} not numbers\n")
    (last,) = (tmp_path / "run").rglob("last.ckpt")
    trained_task(
        [
            *overrides,
            f"model.embedding.pretrained={vectors}",
            f"ckpt_path={last}",
            "trainer.max_epochs=2",
        ],
        tmp_path / "resumed",
    )
    with pytest.raises(ValueError, match=r"line 2: expected a word and 6 values"):
        trained_task([*overrides, f"model.embedding.pretrained={vectors}"], tmp_path / "fresh")


def test_load_pretrained_fills_found_rows_and_draws_the_others_at_their_scale(tmp_path):
    vocabulary = Vocabulary(["<pad>", "<unk>", *(f"w{i}" for i in range(300))])
    words = vocabulary.tokens[2:200]
    vectors = write_vectors(tmp_path / "v.txt", words, 8)
    torch.manual_seed(0)
    embedding = nn.Embedding(len(vocabulary), 8, padding_idx=0)
    entry = pretrained_embedding(
        {"pretrained": str(vectors), "freeze": True}, "model.embedding", embedding, "vocab", "dim"
    )
    assert not embedding.weight.requires_grad

    class Data:
        vocab = vocabulary

    read = load_pretrained(entry, Data())
    assert (read.exact, read.case_insensitive, len(read.missing)) == (99, 99, 102)
    assert_rows(embedding, vocabulary, words)
    drawn = embedding.weight.detach()[200:]
    found = embedding.weight.detach()[2:200]
    assert drawn.std().item() == pytest.approx(found.std().item(), rel=0.2)  # not N(0, 1)


def run_train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(tmp_path / "logs")
    return subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


BAD_SETTINGS = [
    (
        ["model.embedding.pretrained=VECTORS"],
        2,
        "model.embedding.pretrained: VECTORS holds 3-dimensional vectors, but "
        "model.embedding_dim is 64; set model.embedding_dim=3",
    ),
    (
        ["experiment=translation", "model.source_embedding.pretrained=VECTORS"],
        2,
        "but model.embedding_dim is 64",  # source_embedding_dim null: embedding_dim
    ),
    (
        [
            "experiment=translation",
            "model.source_embedding_dim=3",
            "model.embedding.pretrained=VECTORS",
        ],
        2,
        "model.embedding.pretrained: VECTORS holds 3-dimensional vectors, but "
        "model.embedding_dim is 64",
    ),
    (
        ["model.embedding.pretrained=missing.vec"],
        1,
        "model.embedding.pretrained: missing.vec: no such word vectors file",
    ),
    (
        ["model.embedding.freeze=true"],
        2,
        "model.embedding.freeze: true would keep a random embedding fixed",
    ),
    (["+model.embedding.pretrainde=x"], 2, "model.embedding.pretrainde: unknown key"),
    (
        ["experiment=tagging", "model.embedding_dim=3", "model.embedding.pretrained=BAD"],
        1,
        "BAD, line 2: 'x' is not a number",
    ),
]
"""(overrides, exit code, the one line) of bad pretrained-embedding settings; each case is a
whole rnnkit-train process."""
FAST_CASES = (0, len(BAD_SETTINGS) - 1)  # one config error (exit 2), one data error (exit 1)


@pytest.mark.parametrize(
    ("overrides", "code", "expected"),
    [
        case if index in FAST_CASES else pytest.param(*case, marks=pytest.mark.slow)
        for index, case in enumerate(BAD_SETTINGS)
    ],
)
def test_bad_pretrained_settings_stop_in_one_line(tmp_path, overrides, code, expected):
    vectors = write_vectors(tmp_path / "small.txt", ["the", "a"], 3)
    bad = tmp_path / "bad.txt"
    bad.write_text("zzz 1 2 3\nthe 1 x 3\n")  # "the" is in the built-in tagging vocabulary
    overrides = [o.replace("VECTORS", str(vectors)).replace("BAD", str(bad)) for o in overrides]
    result = run_train(
        tmp_path, *overrides, "trainer.max_epochs=1", "trainer.limit_train_batches=1"
    )
    assert result.returncode == code, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("rnnkit: error:")]
    expected = expected.replace("VECTORS", str(vectors)).replace("BAD", str(bad))
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_freezing_a_tied_target_embedding_is_refused(tmp_path):
    vectors = write_vectors(tmp_path / "de.txt", ["eins"], 8)
    overrides = [
        "experiment=translation",
        "model.embedding_dim=8",
        "cell.hidden_size=8",
        "cell.bidirectional=false",
        "model.tie_embeddings=true",
        "model.attention=none",
        "model.input_feeding=false",
        f"model.embedding.pretrained={vectors}",
        "model.embedding.freeze=true",
        *SMALL["translation"][-3:],
    ]
    with pytest.raises(ValueError) as error, one_thread():
        train(compose_run([*QUICK, *overrides], tmp_path))
    assert exit_code(error.value) == 2
    assert "model.embedding.freeze: with tie_embeddings=true the output layer" in str(error.value)
