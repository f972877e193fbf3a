"""Long documents: which tokens a batch keeps (max_length, truncation) and length buckets."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.sentiment.text_table import TextTableDataModule
from rnnkit.data.sentiment.truncation import TRUNCATIONS, check_truncation, truncate

TOKENS = list(range(10))


@pytest.mark.parametrize(
    ("truncation", "kept"),
    [
        ("head", [0, 1, 2, 3, 4, 5, 6, 7]),
        ("tail", [2, 3, 4, 5, 6, 7, 8, 9]),
        # A quarter of 8 from the start, the other six from the end.
        ("head_tail", [0, 1, 4, 5, 6, 7, 8, 9]),
    ],
)
def test_each_policy_keeps_its_tokens_of_lists_and_arrays(truncation, kept):
    assert truncate(TOKENS, 8, truncation) == kept
    array = np.array(TOKENS, dtype=np.uint16)
    cut = truncate(array, 8, truncation)
    assert cut.dtype == np.uint16 and cut.tolist() == kept


@pytest.mark.parametrize("truncation", TRUNCATIONS)
def test_short_sequences_and_no_limit_keep_everything(truncation):
    assert truncate(TOKENS, 10, truncation) == TOKENS
    assert truncate(TOKENS, None, truncation) == TOKENS
    assert truncate(TOKENS[:4], 4, truncation) == TOKENS[:4]


def test_one_token_from_either_end():
    assert truncate(TOKENS, 1, "head") == [0]
    assert truncate(TOKENS, 1, "tail") == [9]


def test_head_tail_of_sun_et_al_keeps_128_and_382_of_510():
    cut = truncate(list(range(2000)), 510, "head_tail")
    assert cut[:128] == list(range(128)) and cut[128:] == list(range(2000 - 382, 2000))


@pytest.mark.parametrize(
    ("max_length", "truncation", "message"),
    [
        (0, "head", "^max_length: expected a positive integer or null, got 0"),
        (True, "head", "^max_length: expected a positive integer"),
        ("400", "head", "^max_length: expected a positive integer"),
        (400, "middle", "^truncation: expected one of head, tail, head_tail, got 'middle'"),
        (3, "head_tail", "^max_length: head_tail truncation keeps a quarter"),
    ],
)
def test_bad_settings_are_named(max_length, truncation, message):
    with pytest.raises(ValueError, match=message):
        check_truncation(max_length, truncation)


# ---- in a datamodule ------------------------------------------------------------------------

WORDS = [f"w{i}" for i in range(40)]


def long_table(folder, sizes=(3, 30, 12, 25, 7, 40, 18, 5)):
    """train/val/test TSV files of documents of ``sizes`` words (word i is ``w<i>``)."""
    labels = ["neg", "pos"] * len(sizes)
    rows = [f"{' '.join(WORDS[:size])}\t{label}" for size, label in zip(sizes, labels)]
    for split in ("train", "val", "test"):
        (folder / f"{split}.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    return {f"{split}_file": f"{split}.tsv" for split in ("train", "val", "test")}


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("truncation", TRUNCATIONS)
def test_batches_keep_max_length_tokens_of_each_document(tmp_path, truncation, cache):
    files = long_table(tmp_path)
    cache_dir = str(tmp_path / "cache") if cache else None
    dm = TextTableDataModule(
        path=str(tmp_path), max_length=8, truncation=truncation, batch_size=8,
        cache_dir=cache_dir, **files,
    )  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert batch["lengths"].tolist() == [3, 8, 8, 8, 7, 8, 8, 5]
    longest = [dm.vocab.decode([int(i)])[0] for i in batch["tokens"][5]]  # 40 words
    assert longest == truncate(WORDS, 8, truncation)
    # Prediction input is cut the same way.
    raw = dm.batch_from_raw(" ".join(WORDS))
    assert dm.vocab.decode(raw["tokens"][0].tolist()) == truncate(WORDS, 8, truncation)


def test_max_length_does_not_prepare_again(tmp_path):
    files = long_table(tmp_path)
    folders = set()
    for max_length, truncation in [(None, "head"), (8, "head_tail"), (4, "tail")]:
        dm = TextTableDataModule(
            path=str(tmp_path), cache_dir=str(tmp_path / "cache"), max_length=max_length,
            truncation=truncation, bucket_by_length=max_length == 8, **files,
        )  # fmt: skip
        dm.setup("fit")
        folders.add(dm.preparation["folder"])
    assert len(folders) == 1


@pytest.mark.parametrize("cache", [False, True])
def test_bucket_by_length_batches_documents_of_similar_lengths(tmp_path, cache):
    sizes = [int(n) for n in np.random.default_rng(0).integers(1, 41, size=64)]
    files = long_table(tmp_path, sizes)
    cache_dir = str(tmp_path / "cache") if cache else None

    def padding(bucket_by_length):
        dm = TextTableDataModule(
            path=str(tmp_path), batch_size=8, bucket_by_length=bucket_by_length,
            max_length=30, cache_dir=cache_dir, **files,
        )  # fmt: skip
        dm.setup("fit")
        batches = list(dm.train_dataloader())
        assert sorted(len(b["labels"]) for b in batches) == [8] * 8
        steps = sum(b["tokens"].numel() for b in batches)
        return 1 - sum(int(b["lengths"].sum()) for b in batches) / steps

    assert padding(True) < 0.1 < 0.2 < padding(False)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"max_length": -1}, "max_length"),
        ({"truncation": "end"}, "truncation"),
        ({"bucket_by_length": "yes"}, "bucket_by_length"),
        ({"trim_to_shortest": 1}, "trim_to_shortest"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        TextTableDataModule(path=str(tmp_path), train_file="train.tsv", **kwargs)


SIZES = (3, 30, 12, 25, 7, 40, 18, 5)


@pytest.mark.parametrize("truncation", TRUNCATIONS)
def test_trim_to_shortest_cuts_training_batches_only(tmp_path, truncation):
    files = long_table(tmp_path, SIZES)
    dm = TextTableDataModule(
        path=str(tmp_path), batch_size=8, trim_to_shortest=True, truncation=truncation,
        max_length=20, **files,
    )  # fmt: skip
    dm.setup("fit")
    (batch,) = list(dm.train_dataloader())
    assert batch["lengths"].tolist() == [3] * 8 and batch["tokens"].shape == (8, 3)
    rows = sorted(tuple(dm.vocab.decode(row.tolist())) for row in batch["tokens"])
    assert rows == sorted(tuple(truncate(WORDS[:size], 3, truncation)) for size in SIZES)
    (validation,) = list(dm.val_dataloader())
    assert sorted(validation["lengths"].tolist()) == sorted(min(size, 20) for size in SIZES)
    plain = TextTableDataModule(path=str(tmp_path), batch_size=8, max_length=20, **files)
    plain.setup("fit")
    (batch,) = list(plain.train_dataloader())
    assert sorted(batch["lengths"].tolist()) == sorted(min(size, 20) for size in SIZES)
