"""Time and peak memory of reading a forecasting CSV (CSVSeriesDataModule.table()): ETTh1
repeated 10 times (174,200 hourly rows, ISO dates), or the same rows with the dates written as
``2016/7/1 0:00`` and one cell in 20 ``NA`` (``--variant slash-na``, read with
``missing=interpolate``). Usage: ``python scripts/bench_forecasting_csv_read.py [--variant
iso|slash-na]`` (needs ../shared/data/ett/ETTh1.csv; writes its file under /tmp)."""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from rnnkit.data.forecasting.csv_series import CSVSeriesDataModule

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ett" / "ETTh1.csv"


def write(path: Path, variant: str, copies: int = 10) -> None:
    lines = SOURCE.read_text().splitlines()
    body = [line.split(",", 1)[1] for line in lines[1:]]
    start = datetime(2016, 7, 1)
    out = [lines[0]]
    for k in range(copies):
        for i, rest in enumerate(body):
            when = start + timedelta(hours=k * len(body) + i)
            if variant == "iso":
                out.append(f"{when:%Y-%m-%d %H:%M:%S},{rest}")
            else:
                cells = rest.split(",")
                if i % 20 == 7:
                    cells[0] = "NA"
                out.append(f"{when.year}/{when.month}/{when.day} {when.hour}:00," + ",".join(cells))
    path.write_text("\n".join(out) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=("iso", "slash-na"), default="iso")
    variant = parser.parse_args().variant
    path = Path(tempfile.gettempdir()) / f"rnnkit-bench-ett10-{variant}.csv"
    if not path.exists():
        write(path, variant)
    options = {"missing": "interpolate"} if variant == "slash-na" else {}
    dm = CSVSeriesDataModule(path=str(path), input_length=96, horizon=24, **options)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = dm.table()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{variant}: {len(table.dates)} rows read in {elapsed:.2f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
