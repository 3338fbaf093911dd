"""Runs side by side: find the run folders under the paths given (run folders, or sweep folders
whose trials/ holds them), read each one's recipe.toml and metrics.jsonl, group the runs that
differ only in their seed into configurations, and aggregate each configuration over its seeds.

A configuration is a run's resolved recipe without `seed`, `name`, `description` and the fields
that change how a run is carried out, not what it computes (NOT_CONFIGURATION). Only finished
runs (as many epochs in metrics.jsonl as the recipe's `train.epochs`) enter the means: an
interrupted run would pull a mean towards an earlier epoch. Nothing here builds a model or imports
the CLI: a run is what its two files say."""

import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfsnn_cli.engine.run_folder import METRICS_FILE, RECIPE_FILE, TRIALS_FOLDER, read_metrics
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.machine_fields import MACHINE_FIELDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI
    import tomli as tomllib

# what runs of one configuration may differ in: their names, their seed, where they ran (the machine's
# fields) and the fields that change how a run is carried out but not what it computes (or, for the
# device, only in rounding)
NOT_CONFIGURATION = (
    "name",
    "description",
    "seed",
    *MACHINE_FIELDS,
    "data.eval_batch_size",
    "train.compile",
    "train.channels_last",
    "train.recompute_blocks",
    "train.tensorboard",
)
ARGUMENT = "RUN_OR_SWEEP"  # how errors about a path given name it


@dataclass(frozen=True)
class Summary:
    """One number over a configuration's finished runs: their values (in the order of the runs),
    the mean, and the sample standard deviation (n − 1; None for fewer than two values). Mean and
    std are None where a run lacks the number (a firing rate nobody measured)."""

    values: list[float | None]
    mean: float | None
    std: float | None

    @classmethod
    def of(cls, values: list[float | None]) -> "Summary":
        complete = bool(values) and None not in values
        # statistics' mean and stdev sum exactly (as fractions): the result does not depend on the runs' order
        mean = statistics.mean(values) if complete else None
        std = statistics.stdev(values) if complete and len(values) >= 2 else None
        return cls(list(values), mean, std)

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class Run:
    """One run folder: its recipe as dotted fields (`neuron.kind` → "cf") and its epochs' metrics."""

    path: Path
    argument: int  # the position of the first path given that holds this run
    recipe: dict[str, Any]
    history: list[dict[str, Any]]

    @property
    def configuration(self) -> dict[str, Any]:
        return {field: value for field, value in self.recipe.items() if field not in NOT_CONFIGURATION}

    @property
    def planned_epochs(self) -> int:
        return self.recipe["train.epochs"]

    @property
    def finished(self) -> bool:
        return len(self.history) >= self.planned_epochs

    @property
    def test_accuracy(self) -> list[float]:
        return [m["test_accuracy"] for m in self.history]

    @property
    def final_accuracy(self) -> float | None:
        return self.history[-1]["test_accuracy"] if self.history else None

    @property
    def best_accuracy(self) -> float | None:
        return max(self.test_accuracy, default=None)

    @property
    def best_epoch(self) -> int | None:
        return self.history[self.test_accuracy.index(self.best_accuracy)]["epoch"] if self.history else None

    @property
    def seconds(self) -> float:
        return math.fsum(m["seconds"] for m in self.history)

    @property
    def firing_rate(self) -> float | None:
        """The last epoch's test firing rate, where training measured one."""
        return self.history[-1].get("test_firing_rate") if self.history else None

    @property
    def synops(self) -> float | None:
        """The trained model's synaptic operations per test sample (the last epoch's profile), where
        the run recorded it (runs trained before cfsnn recorded it have none)."""
        return self.history[-1].get("test_synops") if self.history else None

    @property
    def energy(self) -> float | None:
        """The trained model's energy per test sample in pJ at the 45 nm preset, where recorded."""
        return self.history[-1].get("test_energy_pj") if self.history else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.recipe.get("name"),
            "seed": self.recipe.get("seed"),
            "finished": self.finished,
            "epochs": len(self.history),
            "planned_epochs": self.planned_epochs,
            "final_test_accuracy": self.final_accuracy,
            "best_test_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
            "test_firing_rate": self.firing_rate,
            "test_synops": self.synops,
            "test_energy_pj": self.energy,
            "test_accuracy": self.test_accuracy,
        }


@dataclass(frozen=True)
class Curve:
    """Test accuracy per epoch over a configuration's finished runs."""

    epochs: list[int]
    mean: list[float]
    std: list[float | None]
    low: list[float]
    high: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epochs, "mean": self.mean, "std": self.std, "min": self.low, "max": self.high}


@dataclass(frozen=True)
class Configuration:
    """Runs whose recipes agree in everything but seed, name and description.

    `fields` holds this configuration's values of the fields that differ between the configurations
    compared (None: its recipe has no such field); `runs` are in seed order.
    """

    fields: dict[str, Any]
    recipe: dict[str, Any]
    runs: list[Run]

    @property
    def finished(self) -> list[Run]:
        return [run for run in self.runs if run.finished]

    @property
    def unfinished(self) -> list[Run]:
        return [run for run in self.runs if not run.finished]

    @property
    def epochs(self) -> int:
        return self.recipe["train.epochs"]

    @property
    def repeated_seeds(self) -> list[Any]:
        """Seeds that more than one finished run used (a sweep compared with a copy of itself, say):
        those runs are not independent draws, and the std over them understates the spread."""
        seeds = [run.recipe.get("seed") for run in self.finished]
        return sorted({_identity(seed): seed for seed in seeds if seeds.count(seed) > 1}.values(), key=_sort_key)

    def summary(self, number: str) -> Summary:
        """`number` ("final_accuracy", "best_accuracy", "seconds", "firing_rate", "synops" or
        "energy") over the finished runs."""
        return Summary.of([getattr(run, number) for run in self.finished])

    def curve(self) -> Curve:
        finished = self.finished
        length = min((len(run.history) for run in finished), default=0)
        per_epoch = [[run.history[index]["test_accuracy"] for run in finished] for index in range(length)]
        return Curve(
            epochs=[finished[0].history[index]["epoch"] for index in range(length)],
            mean=[statistics.mean(values) for values in per_epoch],
            std=[statistics.stdev(values) if len(values) >= 2 else None for values in per_epoch],
            low=[min(values) for values in per_epoch],
            high=[max(values) for values in per_epoch],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": self.fields,
            "recipe": self.recipe,
            "seeds": len(self.finished),
            "repeated_seeds": self.repeated_seeds,
            "unfinished": len(self.unfinished),
            "epochs": self.epochs,
            "final_test_accuracy": self.summary("final_accuracy").to_dict(),
            "best_test_accuracy": self.summary("best_accuracy").to_dict(),
            "seconds": self.summary("seconds").to_dict(),
            "test_firing_rate": self.summary("firing_rate").to_dict(),
            "test_synops": self.summary("synops").to_dict(),
            "test_energy_pj": self.summary("energy").to_dict(),
            "curve": self.curve().to_dict(),
            "runs": [run.to_dict() for run in self.runs],
        }


@dataclass(frozen=True)
class Comparison:
    """The configurations compared, in display order, and the recipe fields in which they differ."""

    fields: list[str]
    configurations: list[Configuration]
    passed_over: list[Path]  # folders in a sweep's trials/ without a recipe.toml (not started)

    @property
    def runs(self) -> list[Run]:
        return [run for configuration in self.configurations for run in configuration.runs]

    @property
    def names(self) -> list[str]:
        return sorted({str(run.recipe.get("name")) for run in self.runs})

    def front(self) -> list[bool | None]:
        """For each configuration, whether it is on the Pareto front of mean final accuracy against
        mean SynOps: no other configuration is at least as accurate with at most as many SynOps and
        better in one of them. None for a configuration without both numbers."""
        points = [(c.summary("final_accuracy").mean, c.summary("synops").mean) for c in self.configurations]
        known = [(accuracy, synops) for accuracy, synops in points if accuracy is not None and synops is not None]

        def dominated(accuracy: float, synops: float) -> bool:
            return any(a >= accuracy and s <= synops and (a, s) != (accuracy, synops) for a, s in known)

        return [
            None if accuracy is None or synops is None else not dominated(accuracy, synops)
            for accuracy, synops in points
        ]

    def to_dict(self) -> dict[str, Any]:
        configurations = [
            configuration.to_dict() | {"pareto_front": on_front}
            for configuration, on_front in zip(self.configurations, self.front(), strict=True)
        ]
        return {
            "fields": self.fields,
            "configurations": configurations,
            "passed_over": [str(path) for path in self.passed_over],
        }


@dataclass(frozen=True)
class RunFolders:
    """What `find_runs` found: each run folder with the position of the first path given that holds it."""

    folders: dict[Path, int]
    passed_over: list[Path]

    def files(self) -> list[Path]:
        """The files `read_runs` will read (an output must not replace one)."""
        return [folder / name for folder in self.folders for name in (RECIPE_FILE, METRICS_FILE)]


def _is_run_folder(path: Path) -> bool:
    return (path / RECIPE_FILE).is_file()


def find_runs(paths: list[Path]) -> RunFolders:
    """The run folders under `paths`: each path is a run folder (it has recipe.toml) or a sweep
    folder (it has trials/, whose subfolders are run folders, taken in name order). A run reached
    twice counts once.

    Raises:
        CfsnnError: a path is missing, a file, neither kind of folder, or a sweep without any run.
    """
    folders: dict[Path, int] = {}
    seen: set[Path] = set()
    passed_over: list[Path] = []
    for argument, given in enumerate(paths):
        path = Path(given).expanduser()
        if not path.exists():
            raise CfsnnError(ARGUMENT, f"{path} does not exist")
        if not path.is_dir():
            raise CfsnnError(ARGUMENT, f"{path} is a file; give a run folder or a sweep folder")
        if _is_run_folder(path):
            found = [path]
        elif (path / TRIALS_FOLDER).is_dir():
            trials = sorted(entry for entry in (path / TRIALS_FOLDER).iterdir() if entry.is_dir())
            found = [trial for trial in trials if _is_run_folder(trial)]
            passed_over += [trial for trial in trials if not _is_run_folder(trial)]
            if not found:
                raise CfsnnError(ARGUMENT, f"{path} is a sweep folder with no run in {TRIALS_FOLDER}/ yet")
        else:
            raise CfsnnError(
                ARGUMENT,
                f"{path} is neither a run folder (no {RECIPE_FILE}) nor a sweep folder (no {TRIALS_FOLDER}/)",
            )
        for folder in found:
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                folders[folder] = argument
    return RunFolders(folders, passed_over)


def dotted_fields(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested recipe as one level of dotted fields: {"neuron": {"kind": "cf"}} → {"neuron.kind": "cf"}."""
    fields: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            fields |= dotted_fields(value, f"{prefix}{key}.")
        else:
            fields[prefix + key] = value
    return fields


def _read_recipe(path: Path) -> dict[str, Any]:
    """The recipe.toml as written by `cfsnn train`, not validated again: a run trained by another
    version of cfsnn still compares, its missing or extra fields showing as differences."""
    try:
        recipe = dotted_fields(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CfsnnError("recipe", f"cannot read it: {error}", str(path)) from None
    epochs = recipe.get("train.epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise CfsnnError("train.epochs", f"must be a whole number >= 1 (got {epochs!r})", str(path))
    return recipe


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS_FILE
    try:
        history = read_metrics(run_dir)
    except json.JSONDecodeError as error:  # its position would be within one line, not the file's
        raise CfsnnError("metrics", f"a line is not JSON ({error.msg})", str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CfsnnError("metrics", f"cannot read it: {error}", str(path)) from None
    for line, metrics in enumerate(history, 1):
        if not isinstance(metrics, dict):
            raise CfsnnError("metrics", f"line {line} is not a JSON object", str(path))
        for key in ("epoch", "test_accuracy", "seconds"):
            if not _is_number(metrics.get(key)):
                raise CfsnnError("metrics", f"line {line}: {key} is missing or not a number", str(path))
        for key in ("test_firing_rate", "test_synops", "test_energy_pj"):
            if metrics.get(key) is not None and not _is_number(metrics[key]):
                raise CfsnnError("metrics", f"line {line}: {key} is not a number", str(path))
    return history


def _sort_key(value: Any) -> tuple:
    """Orders the values one field takes across recipes: missing first, then booleans, numbers,
    strings and lists (element by element), so that [16] comes before [128]."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if _is_number(value):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, list):
        return (4, tuple(_sort_key(item) for item in value))
    return (5, json.dumps(value, sort_keys=True, default=str))


def _identity(value: Any) -> str:
    """Equal for equal TOML values: 1 and 1.0 differ, as they do in a recipe."""
    return json.dumps(value, sort_keys=True, default=str)


def read_runs(found: RunFolders) -> Comparison:
    """Read the runs `find_runs` found and group them into configurations.

    Configurations come in the order of the first path given that holds one of their runs, then
    in the order of their values of the differing fields (fields in recipe order); a
    configuration's runs in seed order. The differing fields are those in which any two
    configurations' values differ, a field that one recipe lacks included.

    Raises:
        CfsnnError: a recipe.toml or metrics.jsonl that cannot be read, naming the file.
    """
    groups: dict[str, list[Run]] = {}
    for folder, argument in found.folders.items():
        run = Run(folder, argument, _read_recipe(folder / RECIPE_FILE), _read_history(folder))
        groups.setdefault(_identity(run.configuration), []).append(run)
    recipes = [runs[0].configuration for runs in groups.values()]
    every_field = list(dict.fromkeys(field for recipe in recipes for field in recipe))
    differing = [field for field in every_field if len({_identity(recipe.get(field)) for recipe in recipes}) > 1]
    configurations = [
        Configuration(
            fields={field: recipe.get(field) for field in differing},
            recipe=recipe,
            runs=sorted(runs, key=lambda run: (_sort_key(run.recipe.get("seed")), str(run.path))),
        )
        for recipe, runs in zip(recipes, groups.values(), strict=True)
    ]
    configurations.sort(
        key=lambda c: (min(run.argument for run in c.runs), tuple(_sort_key(v) for v in c.fields.values()))
    )
    return Comparison(differing, configurations, found.passed_over)
