"""The one place that knows the names of what a run folder and a sweep folder hold. It imports no
torch, so commands that only read these files (`cfsnn compare`) start at once.

    RUN/                    what `cfsnn train --out RUN` makes
      recipe.toml             the resolved recipe
      metrics.jsonl           one JSON line per finished epoch
      model.safetensors       the last epoch's weights; best.safetensors the best test epoch's
      state.safetensors       what --resume reads
      curves.png, tb/         the training curves (tb/ with train.tensorboard)
    SWEEP/                  what `cfsnn sweep --out SWEEP` makes
      sweep.json              the sweep's definition
      trials/NAME/            one run folder per trial
      locks/NAME.lock         held while a process trains NAME
      optuna.db               the default storage
"""

import json
from pathlib import Path
from typing import Any

RECIPE_FILE = "recipe.toml"
METRICS_FILE = "metrics.jsonl"
MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
STATE_FILE = "state.safetensors"
CURVES_FILE = "curves.png"
TENSORBOARD_FOLDER = "tb"

SWEEP_FILE = "sweep.json"
TRIALS_FOLDER = "trials"
LOCKS_FOLDER = "locks"
SWEEP_DATABASE = "optuna.db"


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The lines of a run's metrics.jsonl, one dict per finished epoch ([] if there is none yet)."""
    path = run_dir / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
