"""Two CPU DDP processes (gloo) read every training and validation example exactly once per
epoch, from data prepared once by the first process (ddp_exactly_once_script.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_exactly_once_script.py")
SIZES = {"train": 37, "val": 11, "test": 5}


@pytest.mark.slow
@pytest.mark.parametrize("rebuild", [False, True], ids=["cached", "rebuild_cache"])
def test_every_example_once_per_epoch_under_ddp(tmp_path, rebuild):
    data, output = tmp_path / "data", tmp_path / "output"
    data.mkdir()
    output.mkdir()
    for split, size in SIZES.items():
        (data / f"{split}.txt").write_text("".join(f"{i}\n" for i in range(size)))
    command = [sys.executable, str(SCRIPT), str(data), str(output), str(tmp_path / "prepared")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT"):
        environment.pop(key, None)
    finished = subprocess.run(
        command + (["--rebuild"] if rebuild else []),
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    records = [json.loads((output / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["world_size"] for r in records] == [2, 2]
    # Both ranks run the same number of steps: 37 examples, batches of 4 per rank, 2 epochs.
    assert records[0]["steps"] == records[1]["steps"] == 2 * 5
    for stage in ("train", "val"):
        for epoch in ("0", "1"):
            seen = [i for record in records for i in record["seen"][stage][epoch]]
            assert sorted(seen) == list(range(SIZES[stage])), (stage, epoch)
            assert min(len(record["seen"][stage][epoch]) for record in records) > 0
    # Training is shuffled anew each epoch; validation is not.
    assert records[0]["seen"]["train"]["0"] != records[0]["seen"]["train"]["1"]
    assert records[0]["seen"]["val"]["0"] == records[0]["seen"]["val"]["1"]
    # The first process prepared (fit + encode), even with rebuild_cache; the other read it.
    assert records[0]["load_split_calls"] == {"train": 2, "val": 1, "test": 1}
    assert records[1]["load_split_calls"] == {}
