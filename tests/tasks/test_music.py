"""The music task end to end: train on piano rolls, the metrics and the baseline, compose a
piece into a MIDI file music21 reads back, rnnkit-predict experiment=..., and bad input."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import mido
import music21
import numpy as np
import pytest

from hydra_helpers import compose_run, one_thread
from rnnkit.cli.errors import EXIT_DATA_ERROR, exit_code, one_line
from rnnkit.cli.predict import predict
from rnnkit.cli.train import train
from rnnkit.data.music.midi import read_midi, read_midi_notes, write_midi
from rnnkit.data.music.piano_roll import roll_from_pitches
from rnnkit.data.music.scores import score_notes

SMALL = [
    "experiment=jsb_chorales",
    "data=music_files",
    "data.batch_size=4",
    "data.prepare_workers=0",
    "cell.hidden_size=24",
    "model.sample_steps=8",
    "trainer.enable_progress_bar=false",
]


def chorale_like(count, seed):
    """Pieces with structure an order-blind model misses: a chord progression in one of two
    keys that cycles I-IV-V-I, each chord held two steps."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(count):
        root = int(rng.choice([48, 55]))
        chords = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]]
        start = int(rng.integers(0, 4))
        steps = []
        for i in range(int(rng.integers(12, 20))):
            chord = chords[(start + i // 2) % 4]
            steps.append([root + c for c in chord] + [root + 12 + chord[int(rng.integers(0, 3))]])
        pieces.append(steps)
    return pieces


@pytest.fixture(scope="module")
def roll_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("music") / "chords.json"
    data = {"train": chorale_like(48, 0), "valid": chorale_like(8, 1), "test": chorale_like(8, 2)}
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def test_fast_dev_run(tmp_path, roll_file):
    result = train(compose_run([*SMALL, f"data.path={roll_file}", "debug=fast_dev_run"], tmp_path))
    assert result is not None and result > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory, roll_file):
    logs = tmp_path_factory.mktemp("logs")
    run = logs / "jsb_chorales" / "runs" / "run1"
    with one_thread():
        train(
            compose_run(
                [
                    *SMALL,
                    f"data.path={roll_file}",
                    "trainer.max_epochs=12",
                    "task.optimizer.lr=0.01",
                    "model.dropout=0.0",
                    "model.input_dropout=0.0",
                    f"paths.log_dir={logs}",
                ],
                run,
            )
        )
    return run


def test_training_learns_the_order_the_baseline_cannot(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    for split in ("val", "test"):
        assert metrics[f"{split}/loss"] == pytest.approx(metrics[f"{split}/nll"], rel=1e-4)
        # Four keys of 88 sound per step: the independent baseline pays for guessing which.
        assert metrics[f"{split}/nll"] < 0.85 * metrics[f"{split}/independent_nll"]
        assert 0.3 < metrics[f"{split}/frame_acc"] <= 1.0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained), size_guidance={"images": 0}).Reload()
    scalars = events.Tags()["scalars"]
    assert {
        "train/loss",
        "val/loss",
        "val/nll",
        "val/frame_acc",
        "test/nll",
        "test/frame_acc",
    } <= set(scalars)
    losses = [event.value for event in events.Scalars("val/nll")]
    assert losses[-1] < losses[0]
    assert {"val/piano_roll", "val/generated"} <= set(events.Tags()["images"])


def predict_with(tmp_path, *overrides):
    return predict(compose_run(list(overrides), tmp_path, "predict"))


def test_predict_composes_a_midi_file_music21_reads_back(trained, tmp_path):
    output = tmp_path / "new.mid"
    (line,) = predict_with(
        tmp_path,
        f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}",
        f"output_file={output}",
        "steps=24",
        "+options.seed=1",
    )
    assert line.startswith(f"wrote {output}: 24 steps composed from nothing")
    steps = read_midi(output)
    assert 1 <= len(steps) <= 24 and sum(map(len, steps)) > 0
    # music21 reads the same notes: pitch, onset and end in quarter notes.
    parsed = score_notes(music21.converter.parse(output).stripTies())
    assert sorted(parsed) == sorted(read_midi_notes(output))
    # The same seed composes the same piece.
    again = tmp_path / "again.mid"
    predict_with(
        tmp_path,
        f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}",
        f"output_file={again}",
        "steps=24",
        "+options.seed=1",
    )
    assert read_midi(again) == steps


def test_predict_by_experiment_name_continues_a_seed(trained, tmp_path):
    seed = [[48, 52, 55, 60], [48, 52, 55, 64], [53, 57, 60, 65], [53, 57, 60, 69]]
    seed_file = write_midi(seed, tmp_path / "seed.mid")
    output = tmp_path / "continued.mid"
    (line,) = predict_with(
        tmp_path,
        "from_experiment=jsb_chorales",
        f"paths.log_dir={trained.parents[2]}",
        f"input={seed_file}",
        f"output_file={output}",
        "steps=8",
    )
    assert "after the seed seed (4 steps)" in line
    written = read_midi(output)
    assert written[:4] == seed and len(written) <= 12
    roll = roll_from_pitches(written)
    assert roll.shape[1] == 88


@pytest.mark.slow  # a whole rnnkit-predict process; predict() itself is tested above
def test_the_command_line_reads_experiment_and_output_file(trained, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(trained.parents[2])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnkit.cli.predict",
            "experiment=jsb_chorales",
            "output_file=new.mid",
            "steps=16",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote new.mid: 16 steps composed from nothing" in result.stdout
    assert (tmp_path / "new.mid").is_file()


def test_an_experiment_without_a_trained_run_is_named(trained, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        predict_with(tmp_path, "from_experiment=no_such_run", f"paths.log_dir={trained.parents[2]}")
    assert exit_code(error.value) == EXIT_DATA_ERROR
    assert one_line(error.value).startswith("experiment=no_such_run: no run under")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["+options.top_k=3"], "top_k: not a music generation option"),
        (["steps=0"], "steps: expected a positive integer"),
        (["output_file=x.wav"], "output_file: expected a .mid file name"),
    ],
)
def test_predict_refuses_bad_options(trained, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        predict_with(tmp_path, f"ckpt_path={trained / 'checkpoints' / 'best.ckpt'}", *options)


def test_a_bidirectional_layer_is_refused(tmp_path, roll_file):
    with pytest.raises(ValueError, match="cell.bidirectional"):
        train(
            compose_run(
                [*SMALL, f"data.path={roll_file}", "cell.bidirectional=true", "debug=fast_dev_run"],
                tmp_path,
            )
        )


def no_notes_midi(folder):
    for split in ("train", "valid", "test"):
        (folder / split).mkdir(parents=True)
        for i in range(2):
            midi = mido.MidiFile()
            track = mido.MidiTrack()
            if (split, i) != ("train", 1):
                track += [
                    mido.Message("note_on", note=60 + i, time=0),
                    mido.Message("note_off", note=60 + i, time=480),
                ]
            midi.tracks.append(track)
            midi.save(folder / split / f"piece{i}.mid")
    return folder, "piece1.mid: no notes"


def out_of_range_json(folder):
    folder.mkdir()
    path = folder / "rolls.json"
    path.write_text(json.dumps({"train": [[[60], [120]]], "valid": [[[60]]], "test": [[[60]]]}))
    return path, "rolls.json: train[0], time step 1: pitch 120 is outside the piano's range 21-108"


def not_a_roll_json(folder):
    folder.mkdir()
    path = folder / "rolls.json"
    path.write_text(json.dumps({"train": [[60, 64]], "valid": [[[60]]], "test": [[[60]]]}))
    return path, "rolls.json: train[0], time step 0: expected a list of MIDI pitch numbers, got int"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def code_pickle(folder):
    folder.mkdir()
    path = folder / "rolls.pkl"
    path.write_bytes(pickle.dumps({"train": [[[60]]], "valid": _Exploit(), "test": [[[60]]]}))
    return path, "rolls.pkl: refused to unpickle: it names posix.system"


@pytest.mark.parametrize("make", [no_notes_midi, out_of_range_json, not_a_roll_json, code_pickle])
def test_bad_music_input_is_a_data_error_naming_the_file(tmp_path, make):
    path, message = make(tmp_path / "data")
    cfg = compose_run([*SMALL, f"data.path={path}", "debug=fast_dev_run"], tmp_path / "run")
    with pytest.raises(ValueError) as error:
        train(cfg)
    assert exit_code(error.value) == EXIT_DATA_ERROR
    assert message in one_line(error.value)
    assert not (tmp_path / "pwned").exists()


def test_bad_music_input_ends_the_command_with_one_line(tmp_path):
    path, message = code_pickle(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["RNNKIT_LOG_DIR"] = str(tmp_path / "logs")
    env["RNNKIT_PREPARED_DIR"] = str(tmp_path / "prepared")
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli.train", *SMALL, f"data.path={path}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnkit: error: ") and message in last, last
    assert not (tmp_path / "pwned").exists()
