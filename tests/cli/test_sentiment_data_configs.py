"""The real-data sentiment configs (sst2, imdb, text_table) and the sst2_bilstm experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate

import rnnkit
from rnnkit.cli.predict import predict
from rnnkit.cli.train import build_datamodule, build_task, train
from rnnkit.data.sentiment.imdb import IMDB_SHA256, IMDB_URL, IMDBDataModule
from rnnkit.data.sentiment.sst2 import GLUE_SST2_SHA256, GLUE_SST2_URL, SST2DataModule
from rnnkit.data.sentiment.text_table import TextTableDataModule
from shared_data import shared_dataset

SENTENCES = [
    ("a gorgeous , witty , seductive movie .", "1"),
    ("the acting is amateurish and the plot is dull .", "0"),
    ("an utterly charming and hilarious film", "1"),
    ("it 's a mess , a bore .", "0"),
] * 4


def write_small_sst2(folder: Path) -> Path:
    """SST-2-format files (header, trailing space in train/dev, GLUE's unlabelled test.tsv)."""
    folder.mkdir(parents=True, exist_ok=True)
    labelled = "sentence\tlabel\n" + "".join(f"{s} \t{y}\n" for s, y in SENTENCES)
    for name in ("train.tsv", "dev.tsv", "test_labeled.tsv"):
        (folder / name).write_text(labelled)
    unlabelled = "index\tsentence\n" + "".join(f"{i}\t{s}\n" for i, (s, _) in enumerate(SENTENCES))
    (folder / "test.tsv").write_text(unlabelled)
    return folder


def shared_data_root() -> Path:
    return shared_dataset("sst2", "train.tsv").parent


@pytest.mark.slow  # real data, as test_experiments.py[sst2_bilstm]
def test_sst2_bilstm_runs_on_the_shared_data_under_fast_dev_run(make_config):
    root = shared_data_root()
    cfg = make_config(["experiment=sst2_bilstm", "debug=fast_dev_run", f"paths.data_root={root}"])
    datamodule = build_datamodule(cfg.data)
    assert isinstance(datamodule, SST2DataModule) and datamodule.path == root / "sst2"
    train(cfg)


def test_sst2_bilstm_builds_the_reference_model(make_config, tmp_path):
    root = write_small_sst2(tmp_path / "data" / "sst2").parent
    cfg = make_config(["experiment=sst2_bilstm", f"paths.data_root={root}"])
    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")
    task = build_task(cfg, datamodule)
    (layer,) = [m for m in task.modules() if isinstance(m, rnnkit.Recurrent)]
    assert isinstance(layer, rnnkit.LSTM) and layer.bidirectional and layer.hidden_size == 150
    assert task.model.input_layer.embedding_dim == 300
    assert cfg.optimized_metric == "val/acc" and cfg.model.pooling == "max"


def test_sst2_train_then_predict_names_the_sentiment(make_config, tmp_path, capsys):
    root = write_small_sst2(tmp_path / "data" / "sst2").parent
    overrides = [
        "experiment=sst2_bilstm",
        f"paths.data_root={root}",
        "cell.hidden_size=8",
        "model.embedding_dim=8",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "logger=csv",
    ]
    train(make_config(overrides))
    checkpoint = tmp_path / "checkpoints" / "best.ckpt"
    lines = predict(
        make_config(
            [f"ckpt_path={checkpoint}", f"input={root / 'sst2' / 'test.tsv'}"],
            config_name="predict",
        )
    )
    assert len(lines) == len(SENTENCES)
    for line, (sentence, _) in zip(lines, SENTENCES):
        label, probability, text = line.split("\t")
        assert label in {"negative", "positive"} and 0.5 <= float(probability) <= 1
        assert text == sentence
    assert lines[0] in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "module", "url", "sha256"),
    [
        ("sst2", SST2DataModule, GLUE_SST2_URL, GLUE_SST2_SHA256),
        ("imdb", IMDBDataModule, IMDB_URL, IMDB_SHA256),
    ],
    ids=["sst2", "imdb"],
)
def test_dataset_configs_point_at_data_root_with_verified_downloads(
    make_config, tmp_path, data, module, url, sha256
):
    cfg = make_config([f"data={data}", f"paths.data_root={tmp_path}"])
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, module) and datamodule.path == tmp_path / data
    assert datamodule.download is False and (datamodule.url, datamodule.sha256) == (url, sha256)


def test_text_table_config_reads_a_table(make_config, tmp_path):
    (tmp_path / "reviews.csv").write_text("review,stars\ngreat film,5\nawful,1\nfine film,5\n")
    cfg = make_config(
        [
            "data=text_table",
            f"data.path={tmp_path}",
            "data.train_file=reviews.csv",
            "data.val_file=reviews.csv",
            "data.text_column=review",
            "data.label_column=stars",
        ]
    )
    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")
    assert isinstance(datamodule, TextTableDataModule) and datamodule.labels == ["1", "5"]


def test_imdb_config_batches_long_reviews_with_the_long_document_defaults(make_config, tmp_path):
    """A new user's `experiment=sentiment data=imdb`: whole reviews (head+tail truncation
    when a max_length is set), length buckets, training batches trimmed to their shortest."""
    for split, label, words in [("train", "pos", 900), ("train", "neg", 700), ("test", "pos", 20)]:
        for i in range(4):
            folder = tmp_path / "imdb" / "aclImdb" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            text = " ".join(f"{label}{j % 50}" for j in range(words - i))
            (folder / f"{i}_5.txt").write_text(text)
    (tmp_path / "imdb" / "aclImdb" / "test" / "neg").mkdir()
    (tmp_path / "imdb" / "aclImdb" / "test" / "neg" / "0_1.txt").write_text("neg1 neg2")
    cfg = make_config(
        ["experiment=sentiment", "data=imdb", f"paths.data_root={tmp_path}", "data.val_ratio=0.25"]
    )
    assert cfg.model.pooling == "attention"  # not `last`: a BiLSTM's two ends only
    datamodule = build_datamodule(cfg.data)
    assert (datamodule.max_length, datamodule.truncation) == (None, "head_tail")
    assert datamodule.bucket_by_length and datamodule.trim_to_shortest
    datamodule.setup("fit")
    (train_batch,) = list(datamodule.train_dataloader())  # 3 of 700-697 words, 3 of 900-897
    assert train_batch["lengths"].tolist() == [train_batch["lengths"].min()] * 6
    assert 697 <= train_batch["lengths"].min() <= 698
    (val,) = list(datamodule.val_dataloader())  # one review of each label, whole
    assert sorted(val["lengths"].tolist())[1] >= 897
    (test,) = list(datamodule.test_dataloader())
    assert sorted(test["lengths"].tolist()) == [2, 17, 18, 19, 20]
