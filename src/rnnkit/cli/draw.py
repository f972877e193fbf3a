"""``rnnkit-draw``: an unrolled picture of the architecture an experiment configures.

rnnkit-draw experiment=translation cell.bidirectional=true output=translation.svg

It composes ``draw.yaml`` (``train.yaml`` plus ``output`` and ``steps``), so every override of
``rnnkit-train`` works here too; nothing is built or trained.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from rnnkit.cli.errors import reporting_exit_codes, run_reporting_errors
from rnnkit.cli.top_level_keys import check_top_level_keys
from rnnkit.diagrams.from_config import spec_from_config
from rnnkit.diagrams.unrolled import check_output_path, draw_unrolled, save_figure


def draw(cfg: DictConfig) -> Path:
    """Draw the architecture of a composed config to ``cfg.output``; return the path."""
    check_top_level_keys(cfg)
    output = check_output_path(str(cfg.get("output") or ""))
    spec = spec_from_config(cfg)
    figure = draw_unrolled(spec)
    path = save_figure(figure, output)
    print(f"{spec.title}\nwrote {path}", flush=True)
    return path


@reporting_exit_codes
@hydra.main(version_base="1.3", config_path="../configs", config_name="draw")
def main(cfg: DictConfig) -> None:
    run_reporting_errors(draw, cfg)


if __name__ == "__main__":
    main()
