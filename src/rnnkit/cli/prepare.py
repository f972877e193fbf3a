"""``rnnkit-prepare``: prepare a dataset once into the cache and optionally export it.

rnnkit-prepare experiment=shakespeare_char_lstm
rnnkit-prepare experiment=shakespeare_char_lstm export=s3://bucket/prefix export_shard_multiple=8
"""

from __future__ import annotations

import logging
import time
from typing import Any

import hydra
from omegaconf import DictConfig

from rnnkit.cli.errors import config_key, reporting_exit_codes, run_reporting_errors
from rnnkit.cli.train import as_dict, build_datamodule
from rnnkit.cli.validation import validate_prepare_config
from rnnkit.data.io.parquet_export import export_prepared

log = logging.getLogger("rnnkit")


def prepare_and_export(cfg: DictConfig) -> dict[str, Any]:
    """Prepare ``cfg.data`` (into ``data.cache_dir`` when it has one), export it when
    ``cfg.export`` names a folder or URL, and return ``{"summary": ..., "preparation": ...,
    "export": manifest or None}``; every value it uses is checked first."""
    validate_prepare_config(cfg)
    datamodule = build_datamodule(cfg.data)
    if datamodule.streamed:
        raise ValueError(
            "data.stream_from: rnnkit-prepare prepares data from its files; remove "
            "data.stream_from (it reads an export that is already made)"
        )
    started = time.perf_counter()
    datamodule.prepare_data()
    datamodule.setup("fit")
    lines = [f"prepared {type(datamodule).__name__} in {time.perf_counter() - started:.1f}s"]
    folder = datamodule.preparation.get("folder")
    lines.append(f"  cache: {folder}" if folder else "  cache: none (kept in memory)")
    summary = datamodule.summary()
    lines += [f"  {k}: {v}" for k, v in summary.items() if not isinstance(v, (list, dict))]
    manifest = None
    if cfg.get("export"):
        started = time.perf_counter()
        shard_examples = _positive(cfg, "export_shard_examples", None)
        shard_multiple = _positive(cfg, "export_shard_multiple", 1)
        with config_key("export"):
            manifest = export_prepared(
                datamodule,
                str(cfg.export),
                shard_examples=shard_examples,
                shard_multiple=shard_multiple,
                storage_options=as_dict(cfg.get("export_storage_options")) or None,
            )
        shards = {split: len(d["shards"]) for split, d in manifest["splits"].items()}
        lines.append(
            f"exported to {cfg.export} in {time.perf_counter() - started:.1f}s "
            f"(shards per split: {shards}); train from it with +data.stream_from={cfg.export}"
        )
    print("\n".join(lines), flush=True)
    return {"summary": summary, "preparation": datamodule.preparation, "export": manifest}


def _positive(cfg: DictConfig, key: str, default: int | None) -> int | None:
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        expected = "a positive integer or null" if default is None else "a positive integer"
        raise ValueError(f"{key}: expected {expected}, got {value!r}")
    return value


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="prepare")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(prepare_and_export, cfg)


if __name__ == "__main__":
    main()
