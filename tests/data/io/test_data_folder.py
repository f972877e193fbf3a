"""``data.path`` given the file where the folder of the files is expected: one line naming the
folder to use, never the file name doubled (``X.csv/X.csv: not found``)."""

from __future__ import annotations

import pytest

from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule
from rnnkit.data.io.reading import check_data_folder
from rnnkit.data.language_modeling.text_files import TextFilesDataModule
from rnnkit.data.sentiment.text_table import TextTableDataModule
from rnnkit.data.tagging.conll import CoNLLDataModule
from rnnkit.data.translation.parallel_text import ParallelTextDataModule

MODULES = {
    "text_table": (
        "reviews.csv",
        lambda file: TextTableDataModule(path=str(file), train_file=file.name),
        "train_file=reviews.csv",
    ),
    "conll": (
        "eng.train",
        lambda file: CoNLLDataModule(str(file), train_file=file.name),
        "train_file=eng.train",
    ),
    "text_files": (
        "ptb.train.txt",
        lambda file: TextFilesDataModule(
            path=str(file), train_file=file.name, split_fractions=[0.9, 0.1]
        ),
        "the text files (ptb.train.txt)",
    ),
    "parallel_text": (
        "train.de",
        lambda file: ParallelTextDataModule(str(file)),
        "train_prefix='train'",
    ),
    "csv_series": (
        "weather.csv",
        lambda file: CSVSeriesDataModule(path=str(file), file=file.name),
        "weather.csv",
    ),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_file_as_data_path_names_its_folder(tmp_path, name):
    file_name, make, contents = MODULES[name]
    file = tmp_path / file_name
    file.write_text("anything\n")
    with pytest.raises(NotADirectoryError) as error:
        make(file).setup("fit")
    assert str(error.value) == (
        f"data.path: {file} is a file, but data.path is the folder of {contents}; set "
        f"data.path={tmp_path}"
    )
    assert f"{file_name}/{file_name}" not in str(error.value)


def test_a_folder_or_no_folder_passes(tmp_path):
    check_data_folder(tmp_path, "anything")
    check_data_folder(None, "anything")
    check_data_folder(tmp_path / "missing", "anything")  # not found: each reader says so
