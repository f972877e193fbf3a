"""LanguageModelingDataModule: contiguous streams, train-only vocabulary, JSON artifacts."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.data.io.vocabulary import EOS, UNK
from rnnkit.data.language_modeling.datamodule import LanguageModelingDataModule

TEXTS = {
    "train": ["def add(a, b):\n    return a + b\n", "class Point:\n    x = 1\n    y = 2\n"],
    "val": ["def sub(a, b):\n    return a - b\n"],
    "test": ["return x + zlib  # unseen: z\n"],
}


class Documents(LanguageModelingDataModule):
    def load_split(self, split: str) -> list[dict]:
        return [{"name": f"{split}{i}", "text": text} for i, text in enumerate(TEXTS[split])]


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("batch_size", [1, 2, 3])
@pytest.mark.parametrize("sequence_length", [1, 4, 7])
def test_batches_are_consecutive_chunks_of_parallel_streams(level, batch_size, sequence_length):
    data = Documents(batch_size=batch_size, sequence_length=sequence_length, level=level)
    data.setup()
    stream = [i for doc in data.datasets["train"] for i in doc["ids"]]  # brute force
    batches = list(data.train_dataloader())
    rows = torch.cat([b["tokens"] for b in batches], dim=1)  # batch k+1 continues batch k
    targets = torch.cat([b["targets"] for b in batches], dim=1)
    columns = (len(stream) - 1) // batch_size
    assert rows.shape == (batch_size, columns)
    for row in range(batch_size):
        begin = row * columns
        assert rows[row].tolist() == stream[begin : begin + columns]
        assert targets[row].tolist() == stream[begin + 1 : begin + columns + 1]
    assert all(b["tokens"].shape[1] == sequence_length for b in batches[:-1])
    assert 1 <= batches[-1]["tokens"].shape[1] <= sequence_length
    assert [b["tokens"].tolist() for b in data.train_dataloader()] == [
        b["tokens"].tolist() for b in batches
    ]  # never shuffled


def test_eval_batch_size_sets_the_rows_of_val_and_test():
    data = Documents(batch_size=3, eval_batch_size=2, sequence_length=5)
    data.setup()
    assert next(iter(data.train_dataloader()))["tokens"].shape[0] == 3
    assert next(iter(data.val_dataloader()))["tokens"].shape[0] == 2
    assert next(iter(data.test_dataloader()))["tokens"].shape[0] == 2


def test_char_vocabulary_is_fitted_on_train_only_and_round_trips_through_json():
    data = Documents(batch_size=2, sequence_length=4)
    data.setup()
    assert "z" not in data.vocab and "d" in data.vocab
    unk = data.vocab.id(UNK)
    assert unk in data.stream("test")[0]
    counts = data.train_counts
    assert counts[data.vocab.id("a")] == sum(t.count("a") for t in TEXTS["train"])
    restored = Documents(batch_size=2, sequence_length=4)
    restored.restore(json.loads(json.dumps(data.artifacts())))
    restored.setup()
    assert restored.vocab.tokens == data.vocab.tokens
    for split in ("train", "val", "test"):
        assert restored.stream(split)[0].tolist() == data.stream(split)[0].tolist()
    assert restored.spec == data.spec


def test_word_level_ends_lines_with_eos_and_maps_unseen_words_to_unk():
    data = Documents(batch_size=1, sequence_length=4, level="word")
    data.setup()
    assert data.tokenize("return a\n\nx") == ["return", "a", EOS, EOS, "x", EOS]
    assert data.tokenize("return a\nx", end_last_line=False) == ["return", "a", EOS, "x"]
    decoded = data.decode_text(data.stream("test")[0])
    assert decoded == "return x + <unk> <unk> <unk> <unk>\n"


def test_unigram_log_probs_are_a_smoothed_distribution_without_pad():
    data = Documents(batch_size=2, sequence_length=4)
    data.setup()
    probabilities = data.unigram_log_probs().exp()
    assert probabilities.sum().item() == pytest.approx(1.0)
    assert probabilities[data.vocab.pad_index] == 0
    assert probabilities[data.vocab.id(" ")] > probabilities[data.vocab.id("P")] > 0


@pytest.mark.parametrize("level", ["char", "word"])
def test_prompts_become_one_batch_and_an_empty_prompt_starts_a_line(level):
    data = Documents(batch_size=2, sequence_length=4, level=level)
    data.setup()
    tokens = data.batch_from_raw("return a\\n")["tokens"]
    assert tokens.shape[0] == 1
    assert data.decode_text(tokens[0]) == "return a\n"
    empty = data.batch_from_raw("")["tokens"]
    assert data.decode_text(empty[0]) == "\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"level": "byte"}, "level"),
        ({"sequence_length": 0}, "sequence_length"),
        ({"eval_batch_size": -1}, "eval_batch_size"),
        ({"batch_size": 500}, "batch_size"),
    ],
)
def test_bad_options_name_themselves(arguments, message):
    with pytest.raises(ValueError, match=message):
        data = Documents(**arguments)
        data.setup()
        data.train_dataloader()


def test_restoring_a_vocabulary_of_another_level_is_refused():
    data = Documents(batch_size=2, level="char")
    data.setup()
    with pytest.raises(ValueError, match="level"):
        Documents(level="word").restore(data.artifacts())


# ---- several processes (DDP) ---------------------------------------------------------------


class FakeTrainer:
    def __init__(self, global_rank: int, world_size: int) -> None:
        self.global_rank, self.world_size = global_rank, world_size


@pytest.mark.parametrize("world_size", [2, 4])
def test_each_rank_reads_its_own_rows_and_together_every_row_once(world_size):
    data = Documents(batch_size=4, sequence_length=3)
    data.setup()
    whole = list(data.train_dataloader())
    shares = []
    for rank in range(world_size):
        data.trainer = FakeTrainer(rank, world_size)
        shares.append(list(data.train_dataloader()))
    assert all(len(share) == len(whole) for share in shares)
    for k, batch in enumerate(whole):
        for key in ("tokens", "targets", "document_starts"):
            joined = torch.cat([share[k][key] for share in shares])
            assert torch.equal(joined, batch[key])
    # a rank's batch k+1 continues its batch k, row by row (a carried state reads on)
    rows = torch.cat([b["tokens"] for b in shares[1]], dim=1)
    full_rows = torch.cat([b["tokens"] for b in whole], dim=1)
    per_rank = 4 // world_size
    assert torch.equal(rows, full_rows[per_rank : 2 * per_rank])


def test_rows_that_cannot_be_shared_equally_are_an_error():
    data = Documents(batch_size=3, sequence_length=3)
    data.setup()
    data.trainer = FakeTrainer(0, 2)
    with pytest.raises(ValueError, match="batch_size: 3 stream rows cannot be shared equally by 2"):
        data.train_dataloader()


def test_workers_do_not_replay_the_stream():
    data = Documents(batch_size=2, sequence_length=3, num_workers=2)
    data.setup()
    assert len(list(data.train_dataloader())) == len(data.stream_batches("train"))
