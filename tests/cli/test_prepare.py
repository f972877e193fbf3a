"""rnnkit-prepare: prepares a config's data into the cache, exports it, and rnnkit-train
streams from the export (data.stream_from) without the data's files."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("datasets")

from rnnkit.cli import prepare  # noqa: E402
from rnnkit.cli.eval import evaluate  # noqa: E402
from rnnkit.cli.prepare import prepare_and_export  # noqa: E402
from rnnkit.cli.train import build_datamodule, train  # noqa: E402
from rnnkit.data.io.streamed_split import StreamedSplit  # noqa: E402

PLAY = "".join(f"ROMEO {i}: what light through yonder window breaks?\n" for i in range(400))
QUICK_TRAIN = [
    "cell.hidden_size=8",
    "cell.num_layers=1",
    "cell.dropout=0.0",
    "model.embedding_dim=8",
    "model.sample_length=5",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "data.sequence_length=16",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "logger=csv",
]


@pytest.fixture
def shakespeare(tmp_path):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir()
    (folder / "input.txt").write_text(PLAY, encoding="utf-8")
    return [
        "experiment=shakespeare_char_lstm",
        f"data.path={folder}",
        f"paths.prepared_dir={tmp_path / 'prepared'}",
        "data.prepare_workers=0",
    ]


def test_prepare_fills_the_cache_and_exports(shakespeare, make_config, tmp_path, capsys):
    export = tmp_path / "export"
    result = prepare_and_export(
        make_config([*shakespeare, f"export={export}"], config_name="prepare")
    )
    folder = result["preparation"]["folder"]
    assert folder.startswith(str(tmp_path / "prepared" / "TextFilesDataModule-"))
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result["export"]))
    assert manifest["datamodule"] == "rnnkit.data.language_modeling.text_files.TextFilesDataModule"
    assert manifest["splits"]["test"]["same_as"] == "val"
    assert (
        sum(s["values"]["ids"] for s in manifest["splits"]["train"]["shards"])
        == (result["summary"]["train_tokens"])
    )
    assert f"train from it with +data.stream_from={export}" in capsys.readouterr().out


def test_prepare_alone_exports_nothing(shakespeare, make_config):
    result = prepare_and_export(make_config(shakespeare, config_name="prepare"))
    assert result["export"] is None and result["summary"]["train_tokens"] > 0


def test_export_settings_reach_the_export(shakespeare, make_config, monkeypatch):
    calls = []

    def export_stand_in(*args, **kwargs):
        calls.append((args, kwargs))
        return {"splits": {}}

    monkeypatch.setattr(prepare, "export_prepared", export_stand_in)
    overrides = [*shakespeare, "export=memory://there", "export_shard_examples=5"]
    overrides += ["export_shard_multiple=8", "+export_storage_options.anon=true"]
    prepare.prepare_and_export(make_config(overrides, config_name="prepare"))
    ((_, url), options) = calls[0]
    assert url == "memory://there"
    assert options == {"shard_examples": 5, "shard_multiple": 8, "storage_options": {"anon": True}}


@pytest.mark.parametrize("key", ["export_shard_examples", "export_shard_multiple"])
def test_a_bad_shard_setting_names_its_key(shakespeare, make_config, key):
    cfg = make_config([*shakespeare, "export=memory://there", f"{key}=0"], config_name="prepare")
    with pytest.raises(ValueError, match=f"^{key}: expected a positive integer"):
        prepare.prepare_and_export(cfg)


def test_prepare_refuses_a_streamed_data_config(shakespeare, make_config, tmp_path):
    cfg = make_config([*shakespeare, f"+data.stream_from={tmp_path}"], config_name="prepare")
    with pytest.raises(ValueError, match="data.stream_from: rnnkit-prepare prepares data"):
        prepare_and_export(cfg)


def test_train_streams_from_the_export_without_the_files(
    shakespeare, make_config, tmp_path, capsys
):
    export = tmp_path / "export"
    prepare_and_export(make_config([*shakespeare, f"export={export}"], config_name="prepare"))
    (tmp_path / "tinyshakespeare" / "input.txt").unlink()
    overrides = [*shakespeare, *QUICK_TRAIN, f"+data.stream_from={export}"]
    datamodule = build_datamodule(make_config(overrides).data)
    assert datamodule.stream_from == str(export)
    train(make_config(overrides))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/loss"] > 0
    datamodule.setup()
    assert isinstance(datamodule.datasets["train"], StreamedSplit)
    # The checkpoint's data config streams too: rnnkit-eval needs no files either.
    checkpoint = tmp_path / "checkpoints" / "best.ckpt"
    evaluated = evaluate(
        make_config(
            [f"ckpt_path={checkpoint}", "trainer.limit_test_batches=2", "trainer.logger=false"],
            config_name="eval",
        )
    )
    assert evaluated["test/loss"] == pytest.approx(metrics["test/loss"], abs=1e-6)


def test_train_names_a_missing_export(shakespeare, make_config, tmp_path):
    missing = tmp_path / "no-export"
    cfg = make_config([*shakespeare, *QUICK_TRAIN, f"+data.stream_from={missing}"])
    with pytest.raises(FileNotFoundError, match=f"^{missing}: no manifest.json"):
        train(cfg)
