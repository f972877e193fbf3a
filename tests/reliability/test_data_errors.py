"""Bad data: one line naming the file and line (exit 1 through the CLI), or, under the skip
policies, a counted warning; never an out-of-memory kill, a NaN metric or a silent gap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rnnkit.cli.errors import EXIT_DATA_ERROR, run_reporting_errors
from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule
from rnnkit.data.forecasting.time_gaps import TimeGapWarning
from rnnkit.data.io.csv_chunks import read_csv_chunks
from rnnkit.data.io.reading import BadLinePolicy, BadLineWarning, read_line_chunks, read_lines

LIMIT = 1000
LONG = b"x" * (LIMIT + 1)


def error_lines(stderr: str) -> list[str]:
    """The ``rnnkit: error:`` lines (other lines may be log records of earlier tests)."""
    return [line for line in stderr.splitlines() if line.startswith("rnnkit: error:")]


@pytest.fixture(autouse=True)
def _small_line_limit(monkeypatch):
    monkeypatch.setenv("RNNKIT_MAX_LINE_BYTES", str(LIMIT))


def read_all_lines(path, policy):
    return [text for _, text in read_lines(path, policy)]


def read_all_chunks(path, policy):
    kept = []
    for chunk in read_line_chunks(path, chunk_bytes=64):
        for number, text in enumerate(chunk.lines, start=chunk.start):
            if text is None:
                policy.report(chunk.problems[number], number, path)
            else:
                kept.append(text)
    return kept


def read_all_csv(path, policy):
    return [
        fields[0]
        for chunk in read_csv_chunks(path, policy, block_bytes=64)
        for _, fields in chunk.rows()
    ]


# (reader, file bytes, line of the long line, lines kept under skip)
LONG_LINE_CASES = [
    (read_all_lines, b"a\n" + LONG + b"\nb\n", 2, ["a", "b"]),
    (read_all_lines, b"a\n" + LONG * 20, 2, ["a"]),  # no line end at all
    (read_all_lines, b"a\r\n" + LONG + b"\r\nb", 2, ["a", "b"]),
    (read_all_chunks, b"a\n" + LONG + b"\nb\n", 2, ["a", "b"]),
    (read_all_chunks, LONG * 20, 1, []),
    (read_all_csv, b"h\n1\n" + LONG + b"\n3\n", 3, ["h", "1", "3"]),
    (read_all_csv, b"h\n" + LONG * 20, 2, ["h"]),
]


@pytest.mark.parametrize(("reader", "data", "line", "kept"), LONG_LINE_CASES)
def test_a_line_over_the_limit_is_a_bad_line_named_by_file_and_line(
    tmp_path, reader, data, line, kept
):
    path = tmp_path / "data.txt"
    path.write_bytes(data)
    too_long = rf"data.txt, line {line}: line longer than {LIMIT}"
    with pytest.raises(ValueError, match=too_long), BadLinePolicy(path, "error") as policy:
        reader(path, policy)
    warned = pytest.warns(BadLineWarning, match=f"first: line {line}: line longer")
    with warned, BadLinePolicy(path, "skip") as policy:
        assert reader(path, policy) == kept
    assert path.read_bytes() == data  # read, never changed


def test_a_line_at_the_limit_is_read(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"x" * LIMIT + b"\r\n")
    assert read_all_lines(path, BadLinePolicy(path)) == ["x" * LIMIT]


def write_series(folder, values, hours=None):
    hours = list(range(len(values))) if hours is None else hours
    rows = ["date,load"] + [
        f"2020-01-{1 + h // 24:02d} {h % 24:02d}:00:00,{v}" for h, v in zip(hours, values)
    ]
    path = folder / "series.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def series(path, **options):
    return CSVSeriesDataModule(
        str(path), input_length=2, horizon=1, split_ratios=[0.6, 0.2, 0.2], **options
    )


# (bad value written at data row 5, i.e. line 7)
NON_FINITE_CASES = ["1e308", "-1e39", "inf", "-inf", "nan", "NaN", "3.5e38"]


@pytest.mark.parametrize("bad", NON_FINITE_CASES)
def test_a_non_finite_or_float32_overflowing_value_names_file_line_and_column(
    tmp_path, capsys, bad
):
    values = [1.0] * 20
    values[5] = bad
    path = write_series(tmp_path, values)
    datamodule = series(path)
    with pytest.raises(SystemExit) as exit_info:
        run_reporting_errors(datamodule.setup, "fit")
    assert exit_info.value.code == EXIT_DATA_ERROR
    (line,) = error_lines(capsys.readouterr().err)
    assert "series.csv, line 7: column 'load':" in line and bad in line


def test_a_value_below_the_float32_limit_is_accepted(tmp_path):
    values = [1.0] * 20
    values[5] = "3.0e38"
    series(write_series(tmp_path, values)).setup("fit")


HOURS_WITH_GAP = [h for h in range(30) if h not in (10, 11, 12)]


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [("error", "raises"), ("warn", "warns"), ("fill", "fills")],
)
def test_time_gaps_follow_the_policy(tmp_path, policy, outcome):
    values = [float(h) for h in HOURS_WITH_GAP]
    path = write_series(tmp_path, values, HOURS_WITH_GAP)
    datamodule = series(path, time_gaps=policy)
    gap = "data rows 9-10: no rows between 2020-01-01 09:00:00 and 2020-01-01 13:00:00"
    if outcome == "raises":
        with pytest.raises(ValueError, match=f"series.csv, {gap}.*time_gaps=error"):
            datamodule.table()
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = datamodule.table()
    gap_warnings = [w for w in caught if issubclass(w.category, TimeGapWarning)]
    if outcome == "warns":
        assert len(table.dates) == len(HOURS_WITH_GAP)
        (warning,) = gap_warnings
        assert "1 time gap in" in str(warning.message) and gap in str(warning.message)
    else:
        assert not gap_warnings
        assert len(table.dates) == 30  # three hours inserted
        np.testing.assert_allclose(np.asarray(table.values)[:, 0], np.arange(30.0))
    datamodule.close_table()


def test_an_even_series_has_no_gap_and_no_warning(tmp_path):
    path = write_series(tmp_path, [1.0] * 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimeGapWarning)
        series(path, time_gaps="error").table()


def test_time_gaps_rejects_an_unknown_policy(tmp_path):
    with pytest.raises(ValueError, match="time_gaps: expected one of"):
        series(tmp_path / "x.csv", time_gaps="interpolate")
