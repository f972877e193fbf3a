"""CSV / TSV / JSONL text-classification tables: parsing, validation by file and line, artifacts."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings

import pytest
import torch

from rnnkit.data.io.reading import BadLineWarning
from rnnkit.data.sentiment import text_table
from rnnkit.data.sentiment.text_table import TextTableDataModule

FORMATS = ("tsv", "csv", "jsonl")
ROWS = {
    "train": [
        ("a fine , moving film", "pos"),
        ("dull and slow", "neg"),
        ('a "joy" to watch, really', "pos"),
        ("not worth it", "neg"),
        ("moving and fine", "pos"),
    ],
    "val": [("fine film", "pos"), ("slow and dull", "neg"), ("unseenword film", "pos")],
    "test": [("worth it", "pos"), ("dull", "neg")],
}


def render(fmt: str, row: tuple[str, str]) -> bytes:
    text, label = row
    if fmt == "tsv":
        return f"{text}\t{label}".encode()
    if fmt == "jsonl":
        return json.dumps({"text": text, "label": label}).encode()
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([text, label])
    return buffer.getvalue().encode()


def header(fmt: str) -> list[bytes]:
    return {"tsv": [b"text\tlabel"], "csv": [b"text,label"], "jsonl": []}[fmt]


def write(path, fmt, rows, insert: bytes | None = None, ending=b"\n"):
    """The file in ``fmt``; ``insert`` goes after the first data row. Returns its line number."""
    lines = header(fmt) + [render(fmt, row) for row in rows]
    position = len(header(fmt)) + 1
    if insert is not None:
        lines.insert(position, insert)
    path.write_bytes(ending.join(lines) + ending)
    return position + 1


def write_splits(folder, fmt, bad: dict[str, bytes] | None = None) -> dict[str, int]:
    """All three split files; returns the line number of the bad line in each split given."""
    numbers = {}
    for split, rows in ROWS.items():
        line = write(folder / f"{split}.{fmt}", fmt, rows, (bad or {}).get(split))
        numbers[split] = line
    return numbers


def module(folder, fmt, **kwargs) -> TextTableDataModule:
    files = {f"{split}_file": f"{split}.{fmt}" for split in ROWS}
    return TextTableDataModule(path=str(folder), **{**files, **kwargs})


# ---- good data ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_every_format(tmp_path, fmt):
    write_splits(tmp_path, fmt)
    dm = module(tmp_path, fmt, batch_size=2)
    dm.setup()
    for split, rows in ROWS.items():
        examples = list(dm.load_split(split))
        assert [(e["text"], e["label"]) for e in examples] == rows
        first_line = 2 if header(fmt) else 1
        assert examples[0]["source"] == f"{tmp_path / f'{split}.{fmt}'}, line {first_line}"
    assert dm.labels == ["neg", "pos"] and dm.spec["num_classes"] == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["tokens"].shape[0] == 2 and batch["labels"].dtype == torch.long


@pytest.mark.parametrize("fmt", FORMATS)
def test_artifacts_fit_on_train_only_and_round_trip_through_json(tmp_path, fmt):
    write_splits(tmp_path, fmt)
    dm = module(tmp_path, fmt)
    dm.setup()
    assert "unseenword" not in dm.vocab and '"joy"' in dm.vocab  # quotes kept as text
    unseen = list(dm.load_split("val"))[2]
    assert dm.encode(unseen)["tokens"][0] == dm.vocab.index[dm.vocab.unknown]
    restored = module(tmp_path, fmt)
    restored.restore(json.loads(json.dumps(dm.artifacts())))
    assert restored.spec == dm.spec
    for example in dm.load_split("val"):
        assert restored.encode(example) == dm.encode(example)


def test_crlf_and_byte_order_mark(tmp_path):
    path = tmp_path / "train.csv"
    write(path, "csv", ROWS["train"], ending=b"\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    dm = TextTableDataModule(train_file=str(path), val_file=str(path), test_file=None)
    assert [e["text"] for e in dm.load_split("train")] == [t for t, _ in ROWS["train"]]


def test_csv_quoted_field_spanning_lines_keeps_line_numbers(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        'text,label\n"first line\nsecond, line",pos\nplain,neg\nthird,row,extra\n', "utf-8"
    )
    dm = TextTableDataModule(train_file=str(path), val_file=str(path))
    with pytest.raises(ValueError, match=r"train\.csv, line 5: expected 2 ','-separated columns"):
        list(dm.load_split("train"))
    dm = TextTableDataModule(train_file=str(path), val_file=str(path), on_bad_line="skip")
    with pytest.warns(BadLineWarning, match="line 5"):
        examples = list(dm.load_split("train"))
    assert examples[0]["text"] == "first line\nsecond, line"
    assert examples[0]["source"].endswith("line 2") and examples[1]["source"].endswith("line 4")


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_columns_by_index_without_header(tmp_path, fmt):
    sep = "\t" if fmt == "tsv" else ","
    path = tmp_path / f"data.{fmt}"
    rows = [ROWS["train"][1], ROWS["train"][4]]  # no separator inside the text
    path.write_text("".join(f"{label}{sep}{text}\n" for text, label in rows))
    dm = TextTableDataModule(
        train_file=str(path), val_file=str(path), has_header=False, text_column=1, label_column=0
    )
    assert [(e["text"], e["label"]) for e in dm.load_split("train")] == rows


def test_jsonl_arrays_by_index(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('["pos", "great film"]\n["neg", "bad film"]\n')
    dm = TextTableDataModule(
        train_file=str(path), val_file=str(path), text_column=1, label_column=0
    )
    assert [e["label"] for e in dm.load_split("train")] == ["pos", "neg"]


def test_integer_labels_in_jsonl_become_strings(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "great", "label": 1}\n{"text": "bad", "label": 0}\n')
    dm = TextTableDataModule(train_file=str(path), val_file=str(path))
    dm.setup()
    assert dm.labels == ["0", "1"]


def test_label_names_fix_the_labels_and_their_order(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\ngreat\t1\nbad\t0\n")
    dm = TextTableDataModule(
        train_file=str(path), val_file=str(path), label_names={1: "positive", 0: "negative"}
    )
    dm.setup()
    assert dm.labels == ["positive", "negative"]  # the mapping's order, not sorted
    assert [e["label"] for e in dm.load_split("train")] == ["positive", "negative"]


def test_validation_is_carved_from_train_when_no_val_file(tmp_path):
    rows = [(f"film number {i}", "pos" if i % 2 else "neg") for i in range(40)]
    write(tmp_path / "train.tsv", "tsv", rows)
    dm = TextTableDataModule(path=str(tmp_path), train_file="train.tsv", val_ratio=0.25)
    dm.setup()
    train, val = list(dm.load_split("train")), list(dm.load_split("val"))
    assert len(train) == 30 and len(val) == 10 and list(dm.load_split("test")) == []
    assert sorted(e["label"] for e in val) == ["neg"] * 5 + ["pos"] * 5
    assert not {e["text"] for e in train} & {e["text"] for e in val}
    again = TextTableDataModule(path=str(tmp_path), train_file="train.tsv", val_ratio=0.25)
    assert list(again.load_split("val")) == val


def test_parse_raw_reads_a_table_file_or_a_sentence(tmp_path):
    write_splits(tmp_path, "tsv")
    dm = module(tmp_path, "tsv")
    dm.setup()
    table = dm.parse_raw(str(tmp_path / "test.tsv"))
    assert [(e["text"], e["label"]) for e in table] == [(t, None) for t, _ in ROWS["test"]]
    assert [e["text"] for e in dm.parse_raw("a fine film")] == ["a fine film"]
    batch = dm.batch_from_raw(str(tmp_path / "test.tsv"))
    assert batch["tokens"].shape[0] == 2


def test_parse_raw_reads_an_unlabelled_jsonl_file(tmp_path):
    write_splits(tmp_path, "jsonl")
    dm = module(tmp_path, "jsonl")
    dm.setup()
    (tmp_path / "input.jsonl").write_text('{"text": "fine film"}\n{"text": "dull"}\n')
    table = dm.parse_raw(str(tmp_path / "input.jsonl"))
    assert [(e["text"], e["label"]) for e in table] == [("fine film", None), ("dull", None)]
    assert dm.batch_from_raw(str(tmp_path / "input.jsonl"))["labels"].tolist() == [-1, -1]


# ---- bad data ----------------------------------------------------------------------------

BAD_LINES = {
    # case: (split, {format: (line, expected message)})
    "wrong column count": (
        "train",
        {
            "tsv": (
                b"too\tmany\tpos",
                r"expected 2 tab-separated columns \(text, label\), found 3",
            ),
            "csv": (b"too,many,pos", r"expected 2 ','-separated columns \(text, label\), found 3"),
            "jsonl": (b'["a list", "pos"]', r"expected a JSON object with key 'text', found list"),
        },
    ),
    "empty sentence": (
        "train",
        {
            "tsv": (b"   \tpos", "empty sentence"),
            "csv": (b'"  ",pos', "empty sentence"),
            "jsonl": (b'{"text": " ", "label": "pos"}', "empty sentence"),
        },
    ),
    "missing label": (
        "train",
        {
            "tsv": (b"good film\t", "missing label"),
            "csv": (b"good film,", "missing label"),
            "jsonl": (b'{"text": "good film"}', "missing label"),
        },
    ),
    "missing text": ("train", {"jsonl": (b'{"text": null, "label": "pos"}', "missing text")}),
    "non-UTF-8 bytes": (
        "train",
        {
            "tsv": (b"caf\xe9 film\tpos", "not valid UTF-8: byte 0xe9"),
            "csv": (b"caf\xe9 film,pos", "not valid UTF-8: byte 0xe9"),
            "jsonl": (b'{"text": "caf\xe9", "label": "pos"}', "not valid UTF-8: byte 0xe9"),
        },
    ),
    "unknown label in val": (
        "val",
        {
            fmt: (
                render(fmt, ("fine film", "neutral")),
                r"unknown label 'neutral'.*\['neg', 'pos'\]",
            )
            for fmt in FORMATS
        },
    ),
    "unknown label in test": (
        "test",
        {fmt: (render(fmt, ("fine film", "Pos")), "unknown label 'Pos'") for fmt in FORMATS},
    ),
    "blank line": ("test", {fmt: (b"", "blank line") for fmt in FORMATS}),
    "malformed syntax": (
        "train",
        {
            "csv": (b'"quoted" trailing,pos', "malformed CSV"),
            "jsonl": (b'{"text": "x", ', "not valid JSON"),
        },
    ),
    "label type": ("train", {"jsonl": (b'{"text": "x", "label": 1.5}', "string or integer label")}),
}
CASES_BY_ID = [(case, fmt) for case, (_, by_format) in BAD_LINES.items() for fmt in by_format]
CASES = [pytest.param(case, fmt, id=f"{case}-{fmt}") for case, fmt in CASES_BY_ID]


@pytest.mark.parametrize(("case", "fmt"), CASES)
def test_bad_line_is_an_error_naming_file_and_line(tmp_path, case, fmt):
    split, by_format = BAD_LINES[case]
    line, expected = by_format[fmt]
    number = write_splits(tmp_path, fmt, {split: line})[split]
    dm = module(tmp_path, fmt)
    where = re.escape(f"{tmp_path / f'{split}.{fmt}'}, line {number}: ")
    with pytest.raises(ValueError, match=f"^{where}.*{expected}"):
        dm.setup()


@pytest.mark.parametrize(("case", "fmt"), CASES)
def test_bad_line_is_skipped_with_one_counted_warning(tmp_path, case, fmt):
    split, by_format = BAD_LINES[case]
    line, expected = by_format[fmt]
    number = write_splits(tmp_path, fmt, {split: line})[split]
    dm = module(tmp_path, fmt, on_bad_line="skip")
    with pytest.warns(BadLineWarning) as caught:
        dm.setup()
    messages = [str(w.message) for w in caught if issubclass(w.category, BadLineWarning)]
    assert len(messages) == 1
    file = re.escape(str(tmp_path / f"{split}.{fmt}"))
    assert re.match(
        f"skipped 1 bad line in {file} \\(first: line {number}: .*{expected}", messages[0]
    )
    assert {s: len(dm.datasets[s]) for s in ROWS} == {s: len(rows) for s, rows in ROWS.items()}


def read_all(folder, fmt, mode):
    """Each split's (text, label, source) and the bad-line warnings, or the error."""
    dm = module(folder, fmt, on_bad_line=mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            splits = {split: [tuple(e.values()) for e in dm.load_split(split)] for split in ROWS}
        except ValueError as error:
            return str(error)
    return splits, [str(w.message) for w in caught if w.category is BadLineWarning]


@pytest.mark.parametrize("mode", ["error", "skip"])
@pytest.mark.parametrize("case", [case for case, fmt in CASES_BY_ID if fmt == "tsv"] + [None])
def test_tsv_chunks_made_at_once_give_what_rows_one_by_one_give(tmp_path, monkeypatch, case, mode):
    if case is not None:
        split, by_format = BAD_LINES[case]
        write_splits(tmp_path, "tsv", {split: by_format["tsv"][0]})
    else:
        write_splits(tmp_path, "tsv")
    expected = read_all(tmp_path, "tsv", mode)  # one chunk per file: the rows one by one
    made_at_once = []
    whole_chunk = text_table._TableRows.whole_chunk

    def spied(rows, chunk):
        examples = whole_chunk(rows, chunk)
        made_at_once.append(examples is not None)
        return examples

    monkeypatch.setattr(text_table._TableRows, "whole_chunk", spied)
    monkeypatch.setattr(text_table, "TSV_CHUNK_BYTES", 24)  # a line or two per chunk
    assert read_all(tmp_path, "tsv", mode) == expected
    assert not all(made_at_once)  # a header, a bad line: row by row
    if mode == "skip":  # past the bad line, the good chunks are made at once
        assert any(made_at_once)


def test_several_bad_lines_are_counted_in_one_summary(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"text\tlabel\ngood\tpos\nbad\nworse\t\t\n\tneg\nfine\tneg\n")
    dm = TextTableDataModule(train_file=str(path), val_file=str(path), on_bad_line="skip")
    with pytest.warns(BadLineWarning, match=r"skipped 3 bad lines in .*train\.tsv \(first: line 3"):
        assert [e["text"] for e in dm.load_split("train")] == ["good", "fine"]


def test_trailing_blank_lines_are_not_bad(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"text\tlabel\ngood\tpos\nbad\tneg\n\n\n")
    dm = TextTableDataModule(train_file=str(path), val_file=str(path))
    assert len(list(dm.load_split("train"))) == 2


def test_label_outside_label_names_is_bad_in_train_too(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\ngreat\t1\nbad\t0\nodd\t2\n")
    dm = TextTableDataModule(train_file=str(path), val_file=str(path), label_names={0: "n", 1: "p"})
    with pytest.raises(
        ValueError, match=r"line 4: unknown label '2'; expected one of \['0', '1'\]"
    ):
        list(dm.load_split("train"))


def test_missing_header_column_names_the_file_and_columns(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("index\tsentence\n0\tgreat\n")
    dm = TextTableDataModule(train_file=str(path), val_file=str(path), text_column="sentence")
    with pytest.raises(
        ValueError, match=r"line 1: expected a column named 'label' \(label_column\)"
    ):
        list(dm.load_split("train"))


def test_column_index_beyond_the_row_is_an_error(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("great,pos\nbad,neg\n")
    dm = TextTableDataModule(
        train_file=str(path), val_file=str(path), has_header=False, text_column=0, label_column=2
    )
    with pytest.raises(ValueError, match="label_column=2 needs at least 3 columns, found 2"):
        list(dm.load_split("train"))


def test_a_single_training_label_is_refused(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\ngreat\tpos\nfine\tpos\n")
    with pytest.raises(ValueError, match="at least 2 different labels.*found \\['pos'\\]"):
        list(TextTableDataModule(train_file=str(path), val_file=str(path)).load_split("train"))


def test_a_file_with_only_bad_lines_is_an_error_even_when_skipping(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\n\tpos\n\tneg\n")
    dm = TextTableDataModule(train_file=str(path), val_file=str(path), on_bad_line="skip")
    with pytest.warns(BadLineWarning), pytest.raises(ValueError, match="2 bad lines skipped"):
        list(dm.load_split("train"))


@pytest.mark.parametrize("url", [None, "http://127.0.0.1:1/data.zip"])
def test_missing_file_names_the_path(tmp_path, url):
    dm = TextTableDataModule(path=str(tmp_path), train_file="train.csv", url=url)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "train.csv"))) as caught:
        dm.setup()
    assert ("data.download=true" in str(caught.value)) == (url is not None)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"train_file": None}, "train_file"),
        ({"train_file": "train.txt"}, "format"),
        ({"format": "xlsx"}, "format"),
        ({"has_header": "yes"}, "has_header"),
        ({"has_header": False, "text_column": "text", "label_column": 1}, "text_column"),
        ({"text_column": -1}, "text_column"),
        ({"label_column": 1.5}, "label_column"),
        ({"label_column": "text"}, "label_column"),
        ({"delimiter": ";;", "train_file": "a.csv"}, "delimiter"),
        ({"delimiter": ";"}, "delimiter"),
        ({"label_names": {}}, "label_names"),
        ({"label_names": ["pos"]}, "label_names"),
        ({"val_ratio": 1.0}, "val_ratio"),
        ({"on_bad_line": "warn"}, "on_bad_line"),
        ({"download": "yes"}, "download"),
        ({"download": True}, "download"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        TextTableDataModule(**{"train_file": "train.tsv", **kwargs})
