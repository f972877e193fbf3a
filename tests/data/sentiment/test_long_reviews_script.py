"""scripts/build_long_reviews.py: a long-document set in IMDB's layout, read by data=imdb."""

from __future__ import annotations

import hashlib
import importlib.util
import random
import re
from pathlib import Path

import pytest

from rnnkit.data.sentiment.imdb import TOKEN, IMDBDataModule
from shared_data import REPO, SHARED_DATA, shared_dataset

SCRIPT = REPO / "scripts" / "build_long_reviews.py"


def load_script():
    spec = importlib.util.spec_from_file_location("build_long_reviews", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_document_has_its_length_and_a_majority_for_its_label():
    script = load_script()
    polar = {
        "positive": [f"good {i} fine ." for i in range(20)],
        "negative": [f"bad {i} dull ." for i in range(20)],
    }
    neutral = [f"a man {i} walks ." for i in range(20)]
    rng = random.Random(0)
    for label in ("positive", "negative"):
        for _ in range(50):
            text, counts = script.document(label, polar, neutral, rng, 200, 2000)
            words = TOKEN.findall(re.sub(r"<br />", " ", text))
            assert 200 <= counts["tokens"] == len(words) <= 2000
            assert counts["agreeing"] > counts["opposing"]
            agreeing = "good" if label == "positive" else "bad"
            opposing = "bad" if label == "positive" else "good"
            assert words.count(agreeing) == counts["agreeing"]
            assert words.count(opposing) == counts["opposing"]
            assert words.count("man") == counts["neutral"] > 0
    again = script.document("positive", polar, neutral, random.Random(0), 200, 2000)
    first = script.document("positive", polar, neutral, random.Random(0), 200, 2000)
    assert again == first


def test_missing_shared_data_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script().main(["--shared", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "sst2/train.tsv not found" in capsys.readouterr().err


def digest(folder: Path) -> str:
    files = sorted(folder.rglob("*.txt"))
    return hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()


@pytest.mark.slow
def test_the_built_set_is_read_by_the_imdb_loader_with_disjoint_sources(tmp_path):
    shared_dataset("sst2", "dev.tsv")
    shared_dataset("multi30k", "val.en")
    script = load_script()
    arguments = ["--shared", str(SHARED_DATA), "--train", "40", "--test", "10"]
    script.main([*arguments, "--out", str(tmp_path / "a")])
    script.main([*arguments, "--out", str(tmp_path / "b")])
    assert digest(tmp_path / "a") == digest(tmp_path / "b")  # deterministic
    dm = IMDBDataModule(path=str(tmp_path / "a"))
    splits = {split: list(dm.load_split(split)) for split in ("train", "val", "test")}
    assert {split: len(e) for split, e in splits.items()} == {"train": 36, "val": 4, "test": 10}
    for examples in splits.values():
        assert {e["label"] for e in examples} == {"negative", "positive"}
        assert all(200 <= len(dm.tokenize(e["text"])) <= 2000 for e in examples)

    def long_sentences(name):  # long enough not to occur inside another split's sentence
        lines = (SHARED_DATA / "sst2" / name).read_text(encoding="utf-8").splitlines()[1:]
        return [" ".join(line.rpartition("\t")[0].split()) for line in lines]

    sources = {
        "val": [s for s in long_sentences("dev.tsv") if len(s.split()) >= 12],
        "test": [s for s in long_sentences("test_labeled.tsv") if len(s.split()) >= 12],
    }
    for split, examples in splits.items():
        for other, sentences in sources.items():
            found = sum(any(s in e["text"] for s in sentences) for e in examples)
            # Each split's documents are made of its own sentences only.
            assert (found == len(examples)) if other == split else found == 0, (split, other)
