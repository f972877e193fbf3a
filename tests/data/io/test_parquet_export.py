"""export_prepared: a prepared datamodule's splits as Parquet shards, artifacts and a manifest
written last, in a folder or at an fsspec URL."""

from __future__ import annotations

import json

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import fsspec  # noqa: E402

from rnnkit.data.io import parquet_export  # noqa: E402
from rnnkit.data.io.parquet_export import export_prepared, shard_sizes, split_aliases  # noqa: E402
from rnnkit.data.io.prepared_cache import MappedSplit  # noqa: E402
from rnnkit.data.io.streamed_split import Export  # noqa: E402
from toy_prepared_data import toy_datamodule  # noqa: E402

SIZES = {"train": 23, "val": 7, "test": 5}


@pytest.fixture
def prepared(tmp_path):
    datamodule = toy_datamodule(tmp_path, SIZES)
    datamodule.setup()
    assert isinstance(datamodule.datasets["train"], MappedSplit)
    return datamodule


@pytest.mark.parametrize(
    ("examples", "most", "multiple", "expected"),
    [
        (10, 4, 1, [4, 3, 3]),
        (10, 10, 1, [10]),
        (10, 100, 4, [3, 3, 2, 2]),
        (3, 1, 4, [1, 1, 1]),
        (0, 5, 2, []),
        (9, 3, 2, [3, 2, 2, 2]),
    ],
)
def test_shards_are_near_equal_at_most_the_limit_and_a_multiple(examples, most, multiple, expected):
    assert shard_sizes(examples, most, multiple) == expected


def test_a_bad_shard_limit_is_refused():
    with pytest.raises(ValueError, match="shard_examples: expected a positive integer, got 0"):
        shard_sizes(5, 0)


def test_export_writes_shards_artifacts_and_manifest(prepared, tmp_path):
    target = tmp_path / "export"
    manifest = export_prepared(prepared, str(target), shard_examples=10)
    written = json.loads((target / "manifest.json").read_text())
    assert written == json.loads(json.dumps(manifest))
    assert written["datamodule"] == "toy_prepared_data.ToyDataModule"
    assert written["task"] == "toy"
    assert written["fields"] == {
        "ids": {"dtype": "uint8", "ragged": True},
        "label": {"dtype": "int64", "ragged": False},
        "index": {"dtype": "int64", "ragged": False},
    }
    train = written["splits"]["train"]
    assert [s["examples"] for s in train["shards"]] == [8, 8, 7]
    assert [s["file"] for s in train["shards"]] == [f"train/part-0000{i}.parquet" for i in range(3)]
    assert json.loads((target / "artifacts.json").read_text()) == prepared.artifacts()

    rows = [pq.read_table(target / s["file"]) for s in train["shards"]]
    table = pa.concat_tables(rows)
    assert table.schema.field("ids").type == pa.list_(pa.uint8())
    assert table.schema.field("label").type == pa.int64()
    cached = prepared.datasets["train"]
    assert table.column("index").to_pylist() == list(range(SIZES["train"]))
    for i, ids in enumerate(table.column("ids").to_pylist()):
        assert ids == cached[i]["ids"].tolist()
        assert table.column("label")[i].as_py() == cached[i]["label"]
    values = sum(s["values"]["ids"] for s in train["shards"])
    assert values == len(cached.values("ids"))


def test_a_split_that_is_another_is_written_once(prepared, tmp_path):
    prepared.datasets["test"] = prepared.datasets["val"]
    assert split_aliases(prepared.datasets) == {"test": "val"}
    manifest = export_prepared(prepared, str(tmp_path / "export"))
    assert manifest["splits"]["test"]["same_as"] == "val"
    assert manifest["splits"]["test"]["shards"] == manifest["splits"]["val"]["shards"]
    assert not (tmp_path / "export" / "test").exists()


def test_in_memory_splits_export_too(tmp_path):
    datamodule = toy_datamodule(tmp_path, SIZES, cache_dir=None)
    datamodule.setup()
    assert isinstance(datamodule.datasets["train"], list)
    manifest = export_prepared(datamodule, f"memory://in-memory-{tmp_path.name}")
    assert manifest["splits"]["val"]["shards"][0]["values"]["ids"] == sum(
        len(e["ids"]) for e in datamodule.datasets["val"]
    )


def test_an_export_to_an_fsspec_url_reads_back(prepared, tmp_path):
    url = f"memory://bucket-{tmp_path.name}/prefix"
    export_prepared(prepared, url, shard_examples=5, shard_multiple=2)
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"/bucket-{tmp_path.name}/prefix/manifest.json")
    export = Export(url)
    assert [len(export.split(s)) for s in ("train", "val", "test")] == [23, 7, 5]
    assert len(export.split("train").shards) % 2 == 0
    streamed = list(export.split("val"))
    cached = prepared.datasets["val"]
    assert [e["index"] for e in streamed] == list(range(7))
    for mine, theirs in zip(streamed, cached):
        assert mine["ids"].dtype == np.uint8
        assert mine["ids"].tolist() == theirs["ids"].tolist()
        assert mine["label"] == theirs["label"] and isinstance(mine["label"], int)


def test_a_failed_export_leaves_no_manifest(prepared, tmp_path, monkeypatch):
    target = tmp_path / "export"
    export_prepared(prepared, str(target), shard_examples=30)
    written = parquet_export.write_shard

    def fail_on_val(fs, path, *args, **kwargs):
        if "/val/" in path:
            raise OSError("disk full")
        return written(fs, path, *args, **kwargs)

    monkeypatch.setattr(parquet_export, "write_shard", fail_on_val)
    with pytest.raises(OSError, match="disk full"):
        export_prepared(prepared, str(target), shard_examples=5)
    assert not (target / "manifest.json").exists()
    with pytest.raises(FileNotFoundError, match=f"^{target}: no manifest.json; .*unfinished"):
        Export(str(target))


def test_exporting_again_replaces_the_shards(prepared, tmp_path):
    target = tmp_path / "export"
    export_prepared(prepared, str(target), shard_examples=3)
    export_prepared(prepared, str(target), shard_examples=100)
    assert sorted(p.name for p in (target / "train").iterdir()) == ["part-00000.parquet"]
    assert not list(target.glob("*.tmp-*"))


def test_a_datamodule_without_flat_fields_is_refused(prepared, tmp_path, monkeypatch):
    monkeypatch.setattr(type(prepared), "encoded_fields", lambda self: None)
    with pytest.raises(ValueError, match="ToyDataModule: cannot be exported"):
        export_prepared(prepared, str(tmp_path / "export"))


def test_a_streamed_datamodule_is_not_exported_again(prepared, tmp_path):
    export_prepared(prepared, str(tmp_path / "export"))
    prepared.stream_from = str(tmp_path / "export")
    with pytest.raises(ValueError, match="ToyDataModule: streams from .*export already"):
        export_prepared(prepared, str(tmp_path / "again"))
