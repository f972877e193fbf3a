"""The speech_digits experiment end to end on tiny generated recordings: fast_dev_run, training
with its metrics (and its classical baseline's) and TensorBoard pictures, audio and text,
rnnkit-predict on a WAV file (by checkpoint or by experiment), and one line naming the file for
bad audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.data.speech.audio import AudioFileError
from rnnkit.data.speech.fsdd import DIGIT_WORDS, FsddDigitsDataModule
from rnnkit.tasks.speech import SpeechTask
from speech_audio import digit_tone, write_fsdd_folder, write_wav


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory) -> Path:
    return write_fsdd_folder(tmp_path_factory.mktemp("fsdd"))


def small(fsdd: Path) -> list[str]:
    return [
        "experiment=speech_digits",
        f"data.path={fsdd}",
        "data.transcript=digits",
        "data.max_digits=3",
        "data.train_passes=2",
        "data.val_passes=1",
        "data.test_passes=1",
        "data.batch_size=16",
        "cell.hidden_size=16",
        "cell.num_layers=1",
        "cell.dropout=0.0",
        "trainer.enable_progress_bar=false",
    ]


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["model.decoder=beam", "cell=lstm", "model.spec_augment=null"],
        ["model.decoder=beam", "model.lexicon=true"],
    ],
)
def test_experiment_runs_under_fast_dev_run(tmp_path, fsdd, options):
    result = train(compose_run([*small(fsdd), *options, "debug=fast_dev_run"], tmp_path))
    assert result is not None and result >= 0.0


def test_fast_dev_run_fits_no_baseline(tmp_path, fsdd, monkeypatch):
    # fast_dev_run logs nothing, so the minute the HMMs take to fit on real data is not spent.
    def refuse(self):
        raise AssertionError("the baseline was fitted under fast_dev_run")

    monkeypatch.setattr(FsddDigitsDataModule, "word_hmm_baseline", refuse)
    train(compose_run([*small(fsdd), "debug=fast_dev_run"], tmp_path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fsdd):
    folder = tmp_path_factory.mktemp("speech") / "logs" / "speech_digits" / "runs" / "run"
    folder.mkdir(parents=True)
    with one_thread():
        train(
            compose_run(
                [*small(fsdd), "trainer.max_epochs=2", "trainer.log_every_n_steps=1"], folder
            )
        )
    return folder


def test_training_logs_error_rates_posteriors_audio_and_samples(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    for name in ("val/loss", "val/cer", "val/wer", "test/loss", "test/cer", "test/wer", "test/ser"):
        assert np.isfinite(metrics[name]), name
    # The classical baseline beside it, scored on the same batches: the tones are easy for it.
    assert metrics["test/hmm_wer"] < 0.2 and metrics["test/hmm_cer"] < 0.2
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(
        str(trained), size_guidance={"images": 0, "tensors": 0, "audio": 0, "scalars": 0}
    ).Reload()
    tags = events.Tags()
    assert {
        "train/loss",
        "val/loss",
        "val/cer",
        "val/wer",
        "test/cer",
        "test/wer",
        "val/hmm_cer",
        "val/hmm_wer",
        "test/hmm_cer",
        "test/hmm_wer",
    } <= set(tags["scalars"])
    losses = [e.value for e in events.Scalars("train/loss")]
    assert losses[-1] < losses[0]
    assert "val/ctc_posteriors" in tags["images"]
    assert "val/audio" in tags["audio"]
    assert any(tag.startswith("val/samples") for tag in tags["tensors"])


def test_predict_prints_the_transcript_of_a_wav_file_or_folder(trained, tmp_path, capsys):
    audio = np.concatenate([digit_tone(3), np.zeros(800, np.float32), digit_tone(1)])
    write_wav(tmp_path / "x.wav", audio, rate=16000)  # resampled to the model's 8 kHz
    checkpoint = trained / "checkpoints" / "last.ckpt"
    (line,) = predict(
        compose_run([f"ckpt_path={checkpoint}", f"input={tmp_path / 'x.wav'}"], tmp_path, "predict")
    )
    text, source = line.split("\t")
    assert source.endswith("x.wav") and set(text) <= set(" 0123456789")
    assert line in capsys.readouterr().out
    write_wav(tmp_path / "y.wav", digit_tone(7))
    lines = predict(
        compose_run(
            [f"ckpt_path={checkpoint}", f"input={tmp_path}", "+options.method=beam"],
            tmp_path,
            "predict",
        )
    )
    assert [line.split("\t")[1] for line in lines] == [
        str(tmp_path / "x.wav"),
        str(tmp_path / "y.wav"),
    ]


def test_predict_finds_the_experiments_best_checkpoint(trained, tmp_path):
    write_wav(tmp_path / "x.wav", digit_tone(4))
    log_dir = trained.parents[2]
    cfg = compose_run(
        [
            "from_experiment=speech_digits",
            f"input_file={tmp_path / 'x.wav'}",
            f"paths.log_dir={log_dir}",
        ],
        tmp_path,
        "predict",
    )
    (line,) = predict(cfg)
    assert line.endswith("x.wav")
    cfg = compose_run(
        [
            "from_experiment=nothing_here",
            f"input_file={tmp_path / 'x.wav'}",
            f"paths.log_dir={log_dir}",
        ],
        tmp_path,
        "predict",
    )
    with pytest.raises(
        FileNotFoundError, match="experiment=nothing_here: no run under .*nothing_here"
    ):
        predict(cfg)


def bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    whole = write_wav(folder / "whole.wav", digit_tone(2)).read_bytes()
    (folder / "cut.wav").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.wav").write_text("shopping list: eggs, milk\n" * 3)
    return {
        "truncated": (folder / "cut.wav", "cut.wav: truncated WAV"),
        "not-audio": (folder / "notes.wav", "notes.wav: cannot read it as audio"),
        "low-rate": (
            write_wav(folder / "phone.wav", digit_tone(2)[::2], rate=4000),
            "phone.wav: sample rate 4000 Hz is below the model's 8000 Hz",
        ),
        "channels": (
            write_wav(folder / "surround.wav", digit_tone(2), channels=6),
            "surround.wav: 6 channels",
        ),
    }


@pytest.mark.parametrize("case", ["truncated", "not-audio", "low-rate", "channels"])
def test_predict_refuses_bad_audio_naming_the_file(trained, tmp_path, case):
    path, message = bad_files(tmp_path)[case]
    cfg = compose_run(
        [f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}", f"input={path}"], tmp_path, "predict"
    )
    with pytest.raises(AudioFileError, match=message):
        predict(cfg)


def test_the_command_line_finds_the_experiment_and_exits_1_with_one_line_for_a_cut_wav(
    trained, tmp_path
):
    path, message = bad_files(tmp_path)["truncated"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(trained.parents[2])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnkit.cli.predict",
            "experiment=speech_digits",
            f"input_file={path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("rnnkit: error: ")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.decoder=viterbi"], "model.decoder"),
        (["model.subsampling=0"], "subsampling"),
        (["model.spec_augment={freq_masks: -1}"], "model.spec_augment"),
        (["model.decoder=greedy", "model.lexicon=true"], "model.lexicon: needs model.decoder=beam"),
        (["model.decoder=beam", "model.lexicon=maybe"], "model.lexicon: expected true or false"),
    ],
)
def test_bad_options_are_refused_with_their_name(tmp_path, fsdd, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(compose_run([*small(fsdd), *overrides, "debug=fast_dev_run"], tmp_path))


def test_a_manifest_dataset_trains_with_the_readme_command(tmp_path):
    rows = ["path,transcript"]
    for digit in range(4):
        write_wav(tmp_path / f"{digit}.wav", digit_tone(digit), rate=16000)
        rows.append(f"{digit}.wav,{DIGIT_WORDS[digit]}")
    (tmp_path / "all.csv").write_text("\n".join(rows) + "\n")
    manifest = tmp_path / "all.csv"
    overrides = [
        "task=speech",
        "model=speech",
        "cell=gru",
        "cell.bidirectional=true",
        "cell.hidden_size=8",
        "data=speech_manifest",
        f"data.train_manifest={manifest}",
        f"data.val_manifest={manifest}",
        f"data.test_manifest={manifest}",
        "optimized_metric=val/cer",
        "optimized_mode=min",
        "experiment_name=my_speech",
        "debug=fast_dev_run",
    ]
    assert train(compose_run(overrides, tmp_path / "run")) is not None


OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}


def test_a_lexicon_beam_spells_only_training_words(fsdd):
    data = FsddDigitsDataModule(str(fsdd), batch_size=8, transcript="words", max_digits=3)
    data.setup("fit")
    assert data.words == sorted(DIGIT_WORDS)
    assert data.spec["words"] == data.words
    restored = FsddDigitsDataModule(str(fsdd))
    restored.load_artifacts(data.artifacts())
    assert restored.words == data.words
    task = SpeechTask(
        cell={"_target_": "rnnkit.GRU", "hidden_size": 8},
        model={"decoder": "beam", "lexicon": True, "spec_augment": None},
        data_spec=data.spec,
        optimizer=OPTIMIZER,
    )
    batch = next(iter(data.val_dataloader()))
    with torch.no_grad():  # an untrained model: its free spelling is noise, the lexicon's is not
        texts = task.transcribe(task(batch["features"], batch["lengths"]))
    assert all(word in DIGIT_WORDS for text in texts for word in text.split())
    old = {key: value for key, value in data.spec.items() if key != "words"}
    with pytest.raises(ValueError, match="model.lexicon: the data recorded no training words"):
        SpeechTask(
            cell={"_target_": "rnnkit.GRU", "hidden_size": 8},
            model={"decoder": "beam", "lexicon": True},
            data_spec=old,
            optimizer=OPTIMIZER,
        )
