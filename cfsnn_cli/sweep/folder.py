"""A sweep folder: its layout (the names are engine/run_folder.py's) and its definition,
sweep.json, which a new sweep writes and a resumed one must match. Processes starting together on
one folder take turns (a lock file in it), so exactly one writes the definition."""

import json
from dataclasses import dataclass
from pathlib import Path

from cfsnn_cli.atomic import atomic_write_text
from cfsnn_cli.engine.run_folder import LOCKS_FOLDER, SETUP_LOCK_FILE, SWEEP_DATABASE, SWEEP_FILE, TRIALS_FOLDER
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.sweep.plan import SweepPlan
from cfsnn_cli.sweep.trial import lock_claimed

FORMAT = "cfsnn-sweep/1"
SQLITE_PREFIX = "sqlite:///"  # SQLAlchemy's URL of a database file; the path follows


@dataclass(frozen=True)
class SweepFolder:
    """The one place that knows a sweep folder's layout."""

    root: Path

    @property
    def definition_file(self) -> Path:
        return self.root / SWEEP_FILE

    def run_dir(self, name: str) -> Path:
        return self.root / TRIALS_FOLDER / name

    def lock_path(self, name: str) -> Path:
        return self.root / LOCKS_FOLDER / f"{name}.lock"

    @property
    def setup_lock(self) -> Path:
        """Held while a process checks or writes the definition."""
        return self.root / SETUP_LOCK_FILE

    def default_storage(self) -> str:
        return f"{SQLITE_PREFIX}{(self.root / SWEEP_DATABASE).resolve()}"


def prepare_folder(folder: SweepFolder, plan: SweepPlan) -> tuple[str, bool]:
    """Create the sweep folder with its definition, or check that the one there is this sweep's.
    Processes starting together on one folder take turns (a lock file in it), so exactly one
    writes the definition and the others read it. Returns the study's name (as the folder
    records it) and whether the folder existed (the sweep resumes); a refusal leaves nothing
    behind that it made."""
    root = folder.root
    if root.exists() and not root.is_dir():
        raise CfsnnError("out", f"{root} is a file, not a folder")
    made_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    made_lock = not folder.setup_lock.exists()
    try:
        with lock_claimed(folder.setup_lock, wait=True):
            if folder.definition_file.is_file():
                return _check_definition(folder, plan), True
            if any(entry != folder.setup_lock for entry in root.iterdir()):
                raise CfsnnError(
                    "out", f"{root} already holds files but no {SWEEP_FILE}; give the sweep an empty folder"
                )
            record = {"format": FORMAT, "study": plan.study_name(), "definition": plan.definition()}
            atomic_write_text(folder.definition_file, json.dumps(record, indent=2, sort_keys=True) + "\n")
            return record["study"], False
    except BaseException:
        if made_lock:
            folder.setup_lock.unlink(missing_ok=True)
        if made_root:
            root.rmdir()
        raise


def _check_definition(folder: SweepFolder, plan: SweepPlan) -> str:
    """The study named in the folder's definition, if that definition is this sweep's."""
    try:
        record = json.loads(folder.definition_file.read_text())
        stored, study = record["definition"], record["study"]
        # a grid's values in any order are the same grid
        stored["grid"] = {field: sorted(values) for field, values in stored.get("grid", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CfsnnError("out", f"{folder.definition_file} is not a readable sweep definition ({error})") from None
    definition = json.loads(json.dumps(plan.definition()))  # as JSON reads it back: tuples are lists
    differing = [key for key in definition if stored.get(key) != definition[key]]
    if differing:
        verb = "differ" if len(differing) > 1 else "differs"
        raise CfsnnError(
            "out",
            f"{folder.root} holds another sweep (its {' and '.join(differing)} {verb}); "
            "rerun its own command to resume it, or give this sweep another `out`",
        )
    return study
