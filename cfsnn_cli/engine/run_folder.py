"""The one place that knows the names of what a run folder and a sweep folder hold, and so which
paths they own. It imports no torch, so commands that only read these files (`cfsnn compare`)
start at once.

    RUN/                    what `cfsnn train --out RUN` makes
      recipe.toml             the resolved recipe
      metrics.jsonl           one JSON line per finished epoch
      model.safetensors       the last epoch's weights; best.safetensors the best test epoch's
      state.safetensors       what --resume reads
      curves.png, tb/         the training curves (tb/ with train.tensorboard)
    SWEEP/                  what `cfsnn sweep --out SWEEP` makes
      sweep.json              the sweep's definition
      trials/NAME/            one run folder per trial
      locks/NAME.lock         held while a process trains NAME; .setup.lock while one sets up
      logs/worker-N.log       what `--workers` processes print
      optuna.db               the default storage

Every name a folder gains is listed in RUN_OWNED or SWEEP_OWNED (a test holds every name constant
of this module to that), and no command's output may replace an owned path (`owned_by`).
"""

import json
from pathlib import Path
from typing import Any

from cfsnn_cli.atomic import TEMPORARY_PREFIX, TEMPORARY_SUFFIX, temporary_target

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
LOGS_FOLDER = "logs"
SETUP_LOCK_FILE = ".setup.lock"
SWEEP_DATABASE = "optuna.db"

RUN_OWNED = frozenset({RECIPE_FILE, METRICS_FILE, MODEL_FILE, BEST_FILE, STATE_FILE, CURVES_FILE, TENSORBOARD_FOLDER})
SWEEP_OWNED = frozenset({SWEEP_FILE, TRIALS_FOLDER, LOCKS_FOLDER, LOGS_FOLDER, SETUP_LOCK_FILE, SWEEP_DATABASE})
# what a run folder or a sweep folder surely holds once its command has written anything
RUN_MARKERS = (RECIPE_FILE, STATE_FILE, MODEL_FILE, METRICS_FILE)
SWEEP_MARKERS = (SWEEP_FILE, SWEEP_DATABASE, TRIALS_FOLDER)
# SQLite writes its journal beside the database as optuna.db-journal, -wal and -shm
DATABASE_COMPANIONS = ("-journal", "-wal", "-shm")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The lines of a run's metrics.jsonl, one dict per finished epoch ([] if there is none yet)."""
    path = run_dir / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def resolve_checkpoint(path: Path) -> Path:
    """The checkpoint `--ckpt` names: a run folder means its model.safetensors."""
    path = Path(path).expanduser()
    return path / MODEL_FILE if path.is_dir() else path


def resumed_run_folder(path: Path) -> Path:
    """The run folder `--resume` names: the folder itself, or the folder of its state file."""
    path = Path(path).expanduser()
    return path.parent if path.name == STATE_FILE and path.is_file() else path


def is_run_folder(folder: Path) -> bool:
    """Whether `folder` holds a run: any of the files `cfsnn train` writes first."""
    return folder.is_dir() and any((folder / name).exists() for name in RUN_MARKERS)


def is_sweep_folder(folder: Path) -> bool:
    """Whether `folder` holds a sweep: its definition, default database or trials."""
    return folder.is_dir() and any((folder / name).exists() for name in SWEEP_MARKERS)


def _owned_name(name: str, owned: frozenset[str]) -> bool:
    if name in owned:
        return True
    # a database's journal files and the temporary files of an atomic write belong with their file
    base = next((name[: -len(tail)] for tail in DATABASE_COMPANIONS if name.endswith(tail)), None)
    return base in owned or (temporary_target(name) in owned)


def owned_by(path: Path) -> tuple[Path, str] | None:
    """The run or sweep folder that owns `path` and what it is there, or None when no folder does.

    Walks up from `path` to the first run or sweep folder among its ancestors: the path is owned
    when the entry it passes through there is one that folder's command writes (recipe.toml, tb/,
    trials/, ...). Anything else in a run folder (an eval.json beside the checkpoints, say) is the
    user's; a trial's folder inside a sweep is a run folder like any other.
    """
    path = Path(path).expanduser().absolute()
    entry = path
    for folder in path.parents:
        if is_run_folder(folder):
            return (folder, "run") if _owned_name(entry.name, RUN_OWNED) else None
        if is_sweep_folder(folder):
            return (folder, "sweep") if _owned_name(entry.name, SWEEP_OWNED) else None
        entry = folder
    return None


def remove_orphaned_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files that an atomic write killed mid-way left in `folder` (a process
    killed between writing `.metrics.jsonl.RANDOM.tmp` and renaming it leaves it behind). Only the
    temporaries of the folder's own files are touched. Call it when the folder is opened by the
    one process that writes it (`train --resume`, a trial resumed by its sweep).

    Returns:
        The files removed.
    """
    removed = []
    for candidate in folder.glob(f"{TEMPORARY_PREFIX}*{TEMPORARY_SUFFIX}") if folder.is_dir() else []:
        if temporary_target(candidate.name) in RUN_OWNED | SWEEP_OWNED and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed
