"""PreparedCache: flat-array round trips, the key, atomic publication, mapped reading."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from torch.utils.data import DataLoader

from rnnkit.data.io.prepared_cache import (
    MANIFEST,
    PreparedCache,
    cache_key,
    narrowest_unsigned,
    to_columns,
)

FIELDS = {
    "tokens": (np.uint16, True),
    "chars": (np.uint8, True),
    "label": (np.int64, False),
    "weight": (np.float32, False),
}


def examples(count: int, start: int = 0) -> list[dict]:
    """Encoded examples of every field kind; example i has i % 5 tokens (some are empty)."""
    rng = np.random.default_rng(start)
    made = []
    for i in range(start, start + count):
        tokens = [int(t) for t in rng.integers(0, 60_000, i % 5)]
        made.append(
            {
                "tokens": tokens if i % 2 else np.array(tokens, dtype=np.int64),
                "chars": list(range(i % 7)),
                "label": i - 3,
                "weight": i / 4,
            }
        )
    return made


def write_cache(root, splits: dict[str, list[dict]], chunk: int = 4, artifacts=None):
    cache = PreparedCache(root, "Toy", "k0")
    with cache.writing() as writer:
        for split, encoded in splits.items():
            split_writer = writer.split(split, FIELDS)
            for start in range(0, len(encoded), chunk):
                split_writer.write_examples(encoded[start : start + chunk])
        writer.finish(artifacts or {"vocabulary": ["a", "b"]}, {"counts": {"train_tokens": 3}})
    return cache


def assert_same(item: dict, expected: dict) -> None:
    assert set(item) == set(FIELDS)
    for name, (dtype, ragged) in FIELDS.items():
        if ragged:
            assert isinstance(item[name], np.ndarray) and item[name].dtype == np.dtype(dtype)
            assert item[name].tolist() == list(expected[name])
        else:
            assert item[name] == pytest.approx(expected[name])


# ---- round trip ---------------------------------------------------------------------------


def test_round_trip_of_ragged_and_scalar_fields(tmp_path):
    train, val = examples(23), examples(6, start=100)
    cache = write_cache(tmp_path, {"train": train, "val": val, "test": []})
    assert cache.complete and cache.folder == tmp_path / "Toy-k0"
    splits = cache.splits()
    assert {name: len(split) for name, split in splits.items()} == {
        "train": 23,
        "val": 6,
        "test": 0,
    }
    for split, expected in (("train", train), ("val", val)):
        for index, example in enumerate(expected):
            assert_same(splits[split][index], example)
    assert_same(splits["train"][-1], train[-1])
    # Flat arrays: values in order, offsets (N + 1,) with the row starts.
    tokens = splits["train"].values("tokens")
    assert tokens.dtype == np.uint16 and isinstance(tokens, np.memmap)
    assert tokens.tolist() == [t for e in train for t in e["tokens"]]
    offsets = splits["train"].offsets("tokens")
    assert offsets.dtype == np.int64 and offsets.tolist() == [
        0,
        *np.cumsum([i % 5 for i in range(23)]),
    ]
    assert splits["train"].values("label").dtype == np.int64
    assert splits["train"].values("weight").dtype == np.float32
    with pytest.raises(ValueError, match="'label' has one value per example"):
        splits["train"].offsets("label")
    with pytest.raises(IndexError, match="index 23 out of range for 23 examples"):
        splits["train"][23]
    assert cache.artifacts() == {"vocabulary": ["a", "b"]}
    assert cache.manifest()["counts"] == {"train_tokens": 3}


def test_scalars_come_back_as_python_numbers(tmp_path):
    splits = write_cache(tmp_path, {"train": examples(3)}).splits()
    item = splits["train"][2]
    assert type(item["label"]) is int and item["label"] == -1
    assert type(item["weight"]) is float and item["weight"] == 0.5


def test_empty_split_and_split_of_empty_sequences(tmp_path):
    empty_rows = [{"tokens": [], "chars": [], "label": 1, "weight": 0.0}] * 3
    splits = write_cache(tmp_path, {"train": empty_rows, "val": [], "test": []}).splits()
    assert len(splits["val"]) == 0 and list(splits["val"]) == []
    assert splits["val"].values("tokens").size == 0
    assert splits["val"].offsets("tokens").tolist() == [0]
    assert len(splits["train"]) == 3
    assert splits["train"][1]["tokens"].tolist() == [] and splits["train"][1]["label"] == 1
    assert splits["train"].offsets("chars").tolist() == [0, 0, 0, 0]


def test_narrowest_unsigned():
    assert narrowest_unsigned(0) == np.uint8
    assert narrowest_unsigned(255) == np.uint8
    assert narrowest_unsigned(256) == np.uint16
    assert narrowest_unsigned(65_535) == np.uint16
    assert narrowest_unsigned(65_536) == np.uint32
    assert narrowest_unsigned(2**32) == np.uint64
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        narrowest_unsigned(2**64)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tokens", [1, 65_536], "field 'tokens': value 65536 does not fit uint16"),
        ("tokens", np.array([70_000, 2]), "field 'tokens': value 70000 does not fit uint16"),
        ("chars", [-1, 3], "field 'chars': value -1 does not fit uint8"),
        ("label", 300, "field 'label': value 300 does not fit int8"),
        ("label", -129, "field 'label': value -129 does not fit int8"),
    ],
)
def test_out_of_range_values_are_refused_not_wrapped(field, value, message):
    fields = {**FIELDS, "label": (np.int8, False)}
    encoded = [{"tokens": [1], "chars": [1], "label": 1, "weight": 0.0} for _ in range(2)]
    encoded[1] = {**encoded[1], field: value}
    with pytest.raises(ValueError, match=f"^{message}$"):
        to_columns(encoded, fields)


def test_missing_field_and_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="missing the field 'weight'"):
        to_columns([{"tokens": [1], "chars": [], "label": 1}], FIELDS)
    with pytest.raises(ValueError, match="expected one value per example"):
        to_columns([{"tokens": [1], "chars": [], "label": [1, 2], "weight": 0.0}], FIELDS)
    with pytest.raises(
        ValueError, match=r"expected a 1-D sequence per example, got shape \(2, 2\)"
    ):
        to_columns([{"tokens": np.ones((2, 2)), "chars": [], "label": 1, "weight": 0.0}], FIELDS)


# ---- mapped reading across processes -------------------------------------------------------


def test_mapped_split_pickles_without_its_arrays(tmp_path):
    encoded = examples(5000)
    split = write_cache(tmp_path, {"train": encoded}, chunk=4096).splits()["train"]
    assert split.values("tokens").nbytes > 15_000  # the maps are open in this process
    payload = pickle.dumps(split)
    assert len(payload) < 1500
    split[0]  # and its files are open for reading examples
    assert len(pickle.dumps(split)) < 1500
    copy = pickle.loads(payload)
    assert copy._arrays is None and copy._readers is None and len(copy) == 5000
    assert_same(copy[4321], encoded[4321])


def test_single_examples_are_read_without_mapping_the_split(tmp_path):
    # A map keeps every page it touched resident: random examples must not be read through it.
    encoded = examples(300)
    split = write_cache(tmp_path, {"train": encoded}, chunk=64).splits()["train"]
    for index in np.random.default_rng(0).permutation(300):
        assert_same(split[int(index)], encoded[index])
    assert split._arrays is None
    batch = split.__getitems__([299, 0, 7])
    for item, index in zip(batch, (299, 0, 7), strict=True):
        assert_same(item, encoded[index])


def test_a_split_file_cut_short_is_named_not_read_as_zeros(tmp_path):
    cache = write_cache(tmp_path, {"train": examples(40)})
    tokens = cache.folder / "train" / "tokens.bin"
    os.truncate(tokens, tokens.stat().st_size // 2)
    split = cache.splits()["train"]
    assert_same(split[1], examples(40)[1])
    with pytest.raises(ValueError, match=r"tokens\.bin ends before byte .*rebuild_cache=true"):
        for index in range(40):
            split[index]


def _identity(batch):
    return batch


def test_mapped_split_in_a_dataloader_with_two_workers(tmp_path):
    encoded = examples(40)
    split = write_cache(tmp_path, {"train": encoded}).splits()["train"]
    assert split.arrays  # opened here: the workers must get the split without them
    loader = DataLoader(split, batch_size=6, num_workers=2, collate_fn=_identity)
    seen = [item for batch in loader for item in batch]
    assert len(seen) == 40
    for item, expected in zip(seen, encoded, strict=True):
        assert_same(item, expected)


# ---- the key -------------------------------------------------------------------------------


def make_files(tmp_path):
    first, second = tmp_path / "train.txt", tmp_path / "test.txt"
    first.write_text("pos\tgood film\nneg\tbad film\n")
    second.write_text("pos\tgreat\n")
    return [first, second]


def wait_a_clock_tick():
    # File times come from the kernel's clock, which on kernels without fine-grained
    # timestamps advances in ticks of a few milliseconds: a file edited within the same tick as
    # its previous write keeps its times (and its size), which no stat-based key can see.
    time.sleep(0.02)


def test_same_files_and_settings_give_the_same_key(tmp_path):
    files = make_files(tmp_path)
    settings = {"lowercase": True, "min_frequency": 2}
    key = cache_key("Toy", settings, files)
    assert len(key) == 16
    assert cache_key("Toy", dict(reversed(settings.items())), files) == key
    assert cache_key("Toy", settings, [str(f) for f in files]) == key
    files[0].read_text()  # reading changes nothing
    assert cache_key("Toy", settings, files) == key


def test_an_edited_file_of_the_same_size_gives_another_key(tmp_path):
    files = make_files(tmp_path)
    key = cache_key("Toy", {}, files)
    wait_a_clock_tick()
    files[0].write_text(files[0].read_text().replace("good", "fine"))
    assert files[0].stat().st_size == len("pos\tgood film\nneg\tbad film\n")
    assert cache_key("Toy", {}, files) != key


def test_a_file_replaced_by_another_with_the_same_mtime_gives_another_key(tmp_path):
    files = make_files(tmp_path)
    before = files[0].stat()
    key = cache_key("Toy", {}, files)
    wait_a_clock_tick()
    other = tmp_path / "other.txt"
    other.write_text("neg\tgood film\npos\tbad film\n")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, files[0])
    after = files[0].stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert cache_key("Toy", {}, files) != key


def test_settings_files_and_names_change_the_key(tmp_path):
    files = make_files(tmp_path)
    key = cache_key("Toy", {"lowercase": True}, files)
    assert cache_key("Toy", {"lowercase": False}, files) != key
    assert cache_key("Toy", {"lowercase": True, "min_frequency": 1}, files) != key
    assert cache_key("Other", {"lowercase": True}, files) != key
    extra = tmp_path / "val.txt"
    extra.write_text("pos\tok\n")
    assert cache_key("Toy", {"lowercase": True}, [*files, extra]) != key
    assert cache_key("Toy", {"lowercase": True}, files[::-1]) != key


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.txt: input file not found"):
        cache_key("Toy", {}, [tmp_path / "nothing.txt"])


# ---- atomic publication -------------------------------------------------------------------


def test_an_error_while_writing_leaves_no_folder(tmp_path):
    cache = PreparedCache(tmp_path, "Toy", "k0")
    with pytest.raises(RuntimeError, match="disk on fire"), cache.writing() as writer:
        writer.split("train", FIELDS).write_examples(examples(10))
        raise RuntimeError("disk on fire")
    assert not cache.complete and not cache.folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_leaving_without_finish_is_an_error_and_leaves_no_folder(tmp_path):
    cache = PreparedCache(tmp_path, "Toy", "k0")
    with pytest.raises(RuntimeError, match="without finish"), cache.writing() as writer:
        writer.split("train", FIELDS).write_examples(examples(10))
    assert list(tmp_path.iterdir()) == []


def test_a_rebuild_replaces_the_published_folder(tmp_path):
    write_cache(tmp_path, {"train": examples(4)})
    cache = write_cache(tmp_path, {"train": examples(7)}, artifacts={"vocabulary": ["z"]})
    assert len(cache.splits()["train"]) == 7 and cache.artifacts() == {"vocabulary": ["z"]}
    assert [p.name for p in tmp_path.iterdir()] == ["Toy-k0"]


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rnnkit.data.io.prepared_cache import PreparedCache

    cache = PreparedCache(sys.argv[1], "Toy", "k0")
    with cache.writing() as writer:
        split = writer.split("train", {"tokens": (np.uint32, True), "label": (np.int64, False)})
        chunk = {"tokens": np.arange(1000, dtype=np.uint32), "label": 1}
        for step in range(1_000_000):
            split.write_examples([chunk] * 64)
            if step == 20:
                print("writing", flush=True)
        writer.finish({}, {})
    """
)


def test_a_killed_preparation_is_never_read_and_is_cleaned_up_next_time(tmp_path):
    root = tmp_path / "prepared"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert child.stdout.readline() == "writing\n"
        temporary = root / f"Toy-k0.tmp-{child.pid}"
        assert (temporary / "train" / "tokens.bin").stat().st_size > 1_000_000
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.stdout.close()
    cache = PreparedCache(root, "Toy", "k0")
    assert not cache.complete and not cache.folder.exists()
    assert temporary.is_dir()  # abandoned: its writer is gone
    cache = write_cache(root, {"train": examples(5)})
    assert cache.complete and len(cache.splits()["train"]) == 5
    assert [p.name for p in root.iterdir()] == ["Toy-k0"]


def test_a_live_writers_temporary_folder_is_left_alone(tmp_path):
    # Another process (here: this one's parent, alive) preparing the same key concurrently.
    busy = tmp_path / f"Toy-k0.tmp-{os.getppid()}"
    busy.mkdir()
    write_cache(tmp_path, {"train": examples(2)})
    assert busy.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["Toy-k0", busy.name])


def test_a_folder_without_manifest_is_not_complete(tmp_path):
    cache = write_cache(tmp_path, {"train": examples(2)})
    (cache.folder / MANIFEST).unlink()
    assert not cache.complete
