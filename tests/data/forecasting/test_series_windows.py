"""SeriesWindows: every window of every series, found by cumulative counts, cut on demand."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from rnnkit.data.forecasting.dates import format_dates
from rnnkit.data.forecasting.windows import EncodedColumns, FileRows, SeriesWindows
from rnnkit.data.io.prepared_cache import PreparedCache

FIELDS = {
    "values": (np.float32, True),
    "dates": (np.int64, True),
    "source": (np.uint8, True),
    "first": (np.uint8, False),
    "date_style": (np.uint8, False),
}
HOUR_US = 3_600_000_000
FEATURES = 3


def encoded(lengths: list[int], piece: int) -> tuple[list[dict], list[np.ndarray]]:
    """Series of ``lengths`` steps, cut into pieces of ``piece`` steps; their value matrices."""
    examples, series = [], []
    for number, length in enumerate(lengths):
        values = (np.arange(length * FEATURES, dtype=np.float32) + 1000 * number).reshape(-1, 3)
        dates = (np.arange(length) + 24 * number) * HOUR_US
        series.append(values)
        for start in range(0, max(length, 1), piece):
            stop = min(start + piece, length)
            examples.append(
                {
                    "values": values[start:stop].reshape(-1),
                    "dates": dates[start:stop],
                    "source": np.frombuffer(f"s{number}".encode() if start == 0 else b"", np.uint8),
                    "first": int(start == 0),
                    "date_style": 2,
                }
            )
    return examples, series


@pytest.mark.parametrize("piece", [1, 4, 100])
@pytest.mark.parametrize("stride", [1, 3])
def test_every_window_of_every_series_in_order(piece, stride):
    lengths = [20, 5, 0, 13, 9]  # the 5- and 0-step series hold no window of 6 + 2 steps
    examples, series = encoded(lengths, piece)
    windows = SeriesWindows(EncodedColumns(examples, FIELDS), 3, 6, 2, stride, [0, 2], [1])
    expected = []
    for number, values in enumerate(series):
        for start in range(0, len(values) - 8 + 1, stride):
            expected.append((number, start, values))
    assert len(windows) == len(expected)
    for index, (number, start, values) in enumerate(expected):
        window = windows[index]
        np.testing.assert_array_equal(window["history"], values[start : start + 6])
        np.testing.assert_array_equal(window["target"], values[start + 6 : start + 8][:, [0, 2]])
        np.testing.assert_array_equal(window["covariates"], values[start + 6 : start + 8][:, [1]])
        hours = (np.arange(start + 6, start + 8) + 24 * number) * HOUR_US
        assert window["horizon_dates"] == format_dates(hours, 2).tolist()
        assert window["source"] == f"s{number} step {start}"
    assert [w["source"] for w in windows.__getitems__([len(expected) - 1, 0])] == [
        f"s{expected[-1][0]} step {expected[-1][1]}",
        "s0 step 0",
    ]
    assert windows[-1]["source"] == windows[len(expected) - 1]["source"]
    with pytest.raises(IndexError):
        windows[len(expected)]


def test_windows_pickle_without_their_readers():
    examples, _ = encoded([30], 7)
    windows = SeriesWindows(EncodedColumns(examples, FIELDS), 3, 4, 2, 1, [0], [])
    first = windows[5]
    assert windows._rows is not None
    copy = pickle.loads(pickle.dumps(windows))
    assert copy._rows is None and copy[5]["covariates"] is None
    np.testing.assert_array_equal(copy[5]["history"], first["history"])


def test_prepared_windows_are_read_from_the_files_as_in_memory(tmp_path):
    examples, _ = encoded([20, 3, 17], 5)
    cache = PreparedCache(tmp_path, "Series", "key")
    with cache.writing() as writer:
        writer.split("train", FIELDS).write_examples(examples)
        writer.finish({})
    mapped = SeriesWindows(cache.splits()["train"], 3, 6, 2, 1, [0, 2], [1])
    in_memory = SeriesWindows(EncodedColumns(examples, FIELDS), 3, 6, 2, 1, [0, 2], [1])
    assert isinstance(mapped.rows[0], FileRows)
    indices = list(range(len(in_memory)))[::-1]
    for a, b in zip(mapped.__getitems__(indices), in_memory.__getitems__(indices)):
        for key in ("history", "target", "covariates"):
            np.testing.assert_array_equal(a[key], b[key])
        assert (a["horizon_dates"], a["source"]) == (b["horizon_dates"], b["source"])
    copy = pickle.loads(pickle.dumps(mapped))
    assert copy.rows[0]._file is None
    np.testing.assert_array_equal(copy[3]["history"], in_memory[3]["history"])


def test_a_short_file_is_an_error(tmp_path):
    path = tmp_path / "values.bin"
    np.arange(12, dtype=np.float32).tofile(path)
    rows = FileRows(path, np.float32, 3)
    np.testing.assert_array_equal(rows.read(np.array([2]), 2)[0], [[6, 7, 8], [9, 10, 11]])
    with pytest.raises(ValueError, match="values.bin: shorter than its manifest"):
        rows.read(np.array([3]), 2)


def test_a_split_must_start_with_a_series():
    examples, _ = encoded([10], 4)
    with pytest.raises(ValueError, match="first: the first example of a split must start"):
        SeriesWindows(EncodedColumns(examples[1:], FIELDS), 3, 4, 2, 1, [0], [])
    empty = SeriesWindows(EncodedColumns([], FIELDS), 3, 4, 2, 1, [0], [])
    assert len(empty) == 0
