"""Tagging files prepared once and memory-mapped: the cache is read instead of the files, is
rebuilt when a file or a setting changes, and gives the batches the in-memory path gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rnnkit.data.io.prepared_cache import MappedSplit
from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.io.vocabulary import DEFAULT_MAX_SIZE
from rnnkit.data.tagging import conll as conll_module
from rnnkit.data.tagging.conll import CoNLLDataModule
from rnnkit.data.tagging.conllu import CoNLLUDataModule

SPLITS = ("train", "val", "test")


def conll(sentences: list[str]) -> str:
    """CoNLL-2003 text: ``"EU/I-ORG rejects/O"`` per sentence (POS and chunk columns filled
    in), with a document header."""
    lines = ["-DOCSTART- -X- O O", ""]
    for sentence in sentences:
        for pair in sentence.split():
            word, tag = pair.rsplit("/", 1)
            lines.append(f"{word} NNP I-NP {tag}")
        lines.append("")
    return "\n".join(lines) + "\n"


FILES = {
    "eng.train": conll(
        [
            "EU/I-ORG rejects/O German/I-MISC call/O ./O",
            "Peter/I-PER Blackburn/I-PER",
            "BRUSSELS/I-LOC Paris/B-LOC 1996-08-22/O",
            "the/O EU/I-ORG said/O ./O",
            "Peter/I-PER said/O Ünïcode/O",
        ]
    ),
    "eng.testa": conll(["CRICKET/O Leicestershire/I-ORG said/O", "Peter/I-PER left/O"]),
    "eng.testb": conll(["SOCCER/O JAPAN/I-LOC the/O EU/I-ORG ½/O"]),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "conll2003"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the files CoNLLDataModule reads from now on, here (``read_file``) or in
    preparation workers (``_map_file``, which hands a file's chunks to them)."""
    names: list[str] = []
    map_file = CoNLLDataModule._map_file

    def counting(self, file, *args):
        names.append(file.name)
        return map_file(self, file, *args)

    monkeypatch.setattr(CoNLLDataModule, "_map_file", counting)
    return names


def module(folder: Path, cache: Path | None, **options) -> CoNLLDataModule:
    defaults = {"tag_scheme": "BIOES", "char_features": True, "batch_size": 2, "prepare_workers": 0}
    return CoNLLDataModule(str(folder), cache_dir=cache, **{**defaults, **options})


def batches(dm, split: str) -> list[dict]:
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader, "test": dm.test_dataloader}
    return list(loader[split]())


def assert_same_batches(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for one, other in zip(first, second):
        assert one.keys() == other.keys()
        for key, value in one.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == other[key].dtype and torch.equal(value, other[key]), key
            else:
                assert value == other[key], key


def test_the_second_setup_reads_the_cache_not_the_files(folder, tmp_path, reads):
    first = module(folder, tmp_path / "cache")
    first.setup()
    assert sorted(reads) == ["eng.testa", "eng.testb", "eng.train", "eng.train"]  # fit, encode
    reads.clear()
    second = module(folder, tmp_path / "cache")
    second.setup()
    assert reads == []
    assert all(isinstance(second.datasets[split], MappedSplit) for split in SPLITS)
    assert second.artifacts() == first.artifacts() and second.spec == first.spec
    assert second.preparation["folder"] == first.preparation["folder"]


@pytest.mark.parametrize("workers", [0, 2])
def test_cached_batches_equal_the_in_memory_batches(folder, tmp_path, workers):
    memory = module(folder, None)
    memory.setup()
    assert isinstance(memory.datasets["train"], list)
    prepared = module(folder, tmp_path / "cache", prepare_workers=workers)
    prepared.setup()
    mapped = module(folder, tmp_path / "cache")  # read back from the files on disk
    mapped.setup()
    for split in SPLITS:
        expected = batches(memory, split)
        assert_same_batches(batches(prepared, split), expected)
        assert_same_batches(batches(mapped, split), expected)
    words = [
        w for batch in batches(mapped, "test") for sentence in batch["words"] for w in sentence
    ]
    assert words == ["SOCCER", "JAPAN", "the", "EU", "½"]  # the original strings, not <unk>
    assert mapped.summary()["test_examples"] == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_files_parsed_in_small_worker_chunks_give_the_in_memory_batches(
    folder, tmp_path, monkeypatch, workers
):
    monkeypatch.setattr(conll_module, "WORKER_CHUNK_BYTES", 40)  # a chunk per sentence or two
    big = conll([f"w{i}/O Peter/I-PER x{i % 7}/I-LOC ./O" for i in range(200)])
    irregular = (  # read line by line (not plain): the same sentences must come out
        "a  NN I-NP O\nb\tNN I-NP I-PER\n \t\n\n\n\nc NN I-NP O\n-DOCSTART- -X- O O\n"
        "d NN I-NP I-ORG\r\ne NN I-NP O\r\n\r\n"
    )
    cut = big.index("\n\n", 2000) + 2  # between two sentences
    runs = "\n\n\n".join(conll(["r/O s/I-PER"] * 3).split("\n\n"))  # two blank lines each
    text = FILES["eng.train"] + big[:cut] + irregular + runs + big[cut:]
    (folder / "eng.train").write_text(text, encoding="utf-8")
    memory = module(folder, None)
    memory.setup()
    prepared = module(folder, tmp_path / "cache", prepare_workers=workers)
    prepared.setup()
    assert prepared.artifacts() == memory.artifacts()
    for split in SPLITS:
        assert_same_batches(batches(prepared, split), batches(memory, split))
    assert prepared.documents == {"eng.train": 4, "eng.testa": 1, "eng.testb": 1}
    assert len(prepared.datasets["train"]) == len(memory.datasets["train"]) == 5 + 200 + 3 + 3


@pytest.mark.parametrize("workers", [0, 2])
def test_a_bad_line_in_a_late_worker_chunk_is_named_or_skipped_in_file_order(
    folder, tmp_path, monkeypatch, workers
):
    monkeypatch.setattr(conll_module, "WORKER_CHUNK_BYTES", 40)
    lines = conll([f"w{i}/O EU/I-ORG Paris/I-LOC Peter/I-PER" for i in range(100)]).splitlines()
    lines[150] = "broken line"  # two columns instead of four
    lines[260] = "bad NNP I-NP X-PER"  # not an IOB1 tag
    (folder / "eng.train").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"eng\.train, line 151: expected 4 space-separated"):
        module(folder, tmp_path / "error", prepare_workers=workers).setup()
    skipping = module(folder, tmp_path / "skip", prepare_workers=workers, on_bad_line="skip")
    with pytest.warns(
        BadLineWarning, match=r"skipped 2 bad lines in .*eng\.train \(first: line 151"
    ):
        skipping.setup()
    assert len(skipping.datasets["train"]) == 98  # the two damaged sentences dropped


@pytest.mark.parametrize("column", [1, 3])  # part of speech (any label), NER (IOB1 tags)
def test_lines_whose_field_counts_add_up_are_still_bad_lines(folder, tmp_path, column):
    # 3 + 5 fields: as many as two good lines, but neither line is one.
    text = conll(["EU/I-ORG said/O"]) + "f NN O\ng NN I-NP O I-PER\n\n" + conll(["a/O"])
    (folder / "eng.train").write_text(text, encoding="utf-8")
    options = {"column": column, "tag_scheme": "none" if column == 1 else "BIOES"}
    with pytest.raises(ValueError, match=r"eng\.train, line 6: expected 4 space-separated"):
        module(folder, tmp_path / "cache", prepare_workers=2, **options).setup()


def test_a_training_file_without_sentences_is_refused_when_parsed_by_workers(folder, tmp_path):
    (folder / "eng.train").write_text("-DOCSTART- -X- O O\n\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"eng\.train: expected at least one sentence"):
        module(folder, tmp_path / "cache", prepare_workers=2).setup()


def test_conllu_cached_batches_equal_the_in_memory_batches(tmp_path):
    rows = [("1", "I", "PRON"), ("2", "know", "VERB"), ("3", "_", "SYM")]
    text = "# sent_id = 1\n" + "".join(
        "\t".join([i, form, "_", upos, "_", "_", "0", "root", "_", "_"]) + "\n"
        for i, form, upos in rows
    )
    (tmp_path / "train.conllu").write_text((text + "\n") * 6, encoding="utf-8")
    options = {"val_ratio": 0.5, "char_features": True, "batch_size": 4, "prepare_workers": 0}
    memory = CoNLLUDataModule(str(tmp_path), "train.conllu", **options)
    memory.setup()
    cached = CoNLLUDataModule(str(tmp_path), "train.conllu", cache_dir=tmp_path / "c", **options)
    cached.setup()
    assert isinstance(cached.datasets["val"], MappedSplit) and len(cached.datasets["test"]) == 0
    for split in ("train", "val"):
        assert_same_batches(batches(cached, split), batches(memory, split))


def test_carved_validation_split_is_the_same_cached_or_not(folder, tmp_path):
    options = {"val_file": None, "val_ratio": 0.4, "split_seed": 4, "test_file": None}
    memory = module(folder, None, **options)
    memory.setup()
    cached = module(folder, tmp_path / "cache", **options)
    cached.setup()
    assert {split: len(data) for split, data in cached.datasets.items()} == {
        "train": 3,
        "val": 2,
        "test": 0,
    }
    for split in ("train", "val"):
        assert_same_batches(batches(cached, split), batches(memory, split))


def test_a_changed_file_is_prepared_again(folder, tmp_path, reads):
    module(folder, tmp_path / "cache").setup()
    test_file = folder / "eng.testb"
    test_file.write_text(conll(["Peter/I-PER won/O", "EU/I-ORG won/O"]), encoding="utf-8")
    reads.clear()
    dm = module(folder, tmp_path / "cache")
    dm.setup()
    assert "eng.testb" in reads and len(dm.datasets["test"]) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"lowercase": True},
        {"normalize_digits": True},
        {"min_frequency": 2},
        {"column": 2},
        {"max_vocab_size": 5},
    ],
)
def test_a_changed_setting_is_prepared_again(folder, tmp_path, reads, change):
    module(folder, tmp_path / "cache").setup()
    reads.clear()
    module(folder, tmp_path / "cache", **change).setup()
    assert "eng.train" in reads


@pytest.mark.parametrize("change", [{"batch_size": 5}, {"seed": 3}, {"num_workers": 1}])
def test_loading_settings_reuse_the_cache(folder, tmp_path, reads, change):
    first = module(folder, tmp_path / "cache")
    first.setup()
    assert first.documents == {"eng.train": 1, "eng.testa": 1, "eng.testb": 1}
    reads.clear()
    second = module(folder, tmp_path / "cache", **change)
    second.setup()
    assert reads == [] and second.preparation["folder"] == first.preparation["folder"]


def test_rebuild_cache_prepares_again(folder, tmp_path, reads):
    first = module(folder, tmp_path / "cache")
    first.setup()
    created = Path(first.preparation["folder"], "manifest.json").stat().st_mtime_ns
    reads.clear()
    again = module(folder, tmp_path / "cache", rebuild_cache=True)
    again.setup()
    assert "eng.train" in reads and again.preparation["folder"] == first.preparation["folder"]
    assert Path(again.preparation["folder"], "manifest.json").stat().st_mtime_ns != created


def test_unknown_tokens_are_counted_per_split(folder, tmp_path):
    dm = module(folder, tmp_path / "cache", lowercase=True)
    dm.setup()
    # val: CRICKET, Leicestershire, left are not training words; test: SOCCER, JAPAN, ½.
    assert dm.preparation["counts"] == {
        "train_tokens": 17,
        "train_unknown_tokens": 0,
        "val_tokens": 5,
        "val_unknown_tokens": 3,
        "test_tokens": 5,
        "test_unknown_tokens": 3,
    }
    summary = dm.summary()
    assert summary["val_unknown_tokens"] == 3 and summary["test_tokens"] == 5
    again = module(folder, tmp_path / "cache", lowercase=True)
    again.setup()
    assert again.preparation["counts"] == dm.preparation["counts"]  # kept in the manifest


def test_the_word_vocabulary_is_capped(folder, tmp_path):
    assert CoNLLDataModule(str(folder)).max_vocab_size == DEFAULT_MAX_SIZE
    dm = module(folder, tmp_path / "cache", max_vocab_size=4, min_frequency=1)
    dm.setup()
    assert dm.vocab.tokens == ["<pad>", "<unk>", ".", "EU"]  # the two most frequent words
    assert dm.preparation["counts"]["train_unknown_tokens"] == 17 - 2 - 2  # but . and EU
    assert len(dm.char_vocab) > 4  # characters are not capped


def test_a_restored_datamodule_encodes_with_the_checkpoint_vocabulary(folder, tmp_path, reads):
    trained = module(folder, tmp_path / "cache")
    trained.setup()
    restored = module(folder, tmp_path / "cache")
    restored.restore(trained.artifacts())
    reads.clear()
    restored.setup()
    assert reads == []  # the run's own vocabulary: the run's prepared data is read
    assert restored.artifacts() == trained.artifacts()
    for split in SPLITS:
        assert_same_batches(batches(restored, split), batches(trained, split))
    other = trained.artifacts()
    other["vocab"]["tokens"] = other["vocab"]["tokens"][:-3]  # three words fewer
    elsewhere = module(folder, tmp_path / "cache")
    elsewhere.restore(other)
    elsewhere.setup()
    assert "eng.train" in reads  # prepared under the checkpoint's vocabulary, not refitted
    assert elsewhere.artifacts() == other
    assert elsewhere.preparation["folder"] != trained.preparation["folder"]


def test_nothing_per_sentence_stays_in_memory_after_setup(folder, tmp_path):
    dm = module(folder, tmp_path / "cache")
    dm.setup()
    assert all(isinstance(dm.datasets[split], MappedSplit) for split in SPLITS)
    big = [name for name, value in vars(dm).items() if isinstance(value, (list, dict))]
    assert all(len(getattr(dm, name)) < 100 for name in big), big


def test_a_missing_file_is_named_before_anything_is_prepared(folder, tmp_path):
    os.remove(folder / "eng.testa")
    with pytest.raises(FileNotFoundError, match=r"eng\.testa: not found \(val_file\)"):
        module(folder, tmp_path / "cache").setup()
    assert not (tmp_path / "cache").exists()


def test_an_export_streams_the_cached_batches_without_the_files(folder, tmp_path):
    pytest.importorskip("datasets")
    from rnnkit.data.io.parquet_export import export_prepared

    cached = module(folder, tmp_path / "cache")
    cached.setup()
    url = str(tmp_path / "export")
    export_prepared(cached, url, shard_examples=2)
    streamed = CoNLLDataModule.from_config(
        path=str(tmp_path / "nowhere"),
        tag_scheme="BIOES",
        char_features=True,
        batch_size=2,
        cache_dir=str(tmp_path / "stream-cache"),
        stream_from=url,
    )
    streamed.setup()
    assert streamed.artifacts() == cached.artifacts()
    for split in ("val", "test"):
        assert_same_batches(batches(streamed, split), batches(cached, split))
    words = sorted(w for b in batches(streamed, "train") for s in b["words"] for w in s)
    assert words == sorted(w for b in batches(cached, "train") for s in b["words"] for w in s)
