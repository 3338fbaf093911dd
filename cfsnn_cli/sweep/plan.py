"""What a sweep will run, worked out and checked before the first trial: the base recipe with its
`--set` overrides, the grid axes (`--grid field=v1,v2`) and seeds, or a search space; every
configuration is validated as a recipe, so a typo in the last grid value fails at once, not hours in.

A grid value travels as its TOML literal (`"cf"`, `0.1`, `[256, 128]`): that is what Optuna's grid
sampler stores (it takes only str, int, float, bool and None) and what a trial turns back into a
`--set` override, so every value a recipe field takes can be swept.
"""

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.recipe import Recipe, load_recipe, parse_override, resolve_recipe_path
from cfsnn_cli.sweep.literals import literal, split_values
from cfsnn_cli.sweep.space import Dimension, read_space

SEED_FIELD = "seed"
# run folder names keep to characters every file system and shell takes as they are
UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._=,+-]")
LONGEST_NAME = 150


@dataclass(frozen=True)
class GridAxis:
    """One `--grid field=v1,v2,...`: the dotted recipe field and its values as TOML literals."""

    field: str
    literals: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "GridAxis":
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CfsnnError("grid", f"expected field=value1,value2,..., got {text!r}")
        parts = split_values(raw)
        if any(part == "" for part in parts):
            raise CfsnnError("grid", f"{key}: empty value in {raw!r} (values are separated by single commas)")
        literals = []
        for part in parts:
            tree = parse_override(f"{key}={part}")  # the same reading as --set; it checks the key's shape
            for name in key.split("."):
                tree = tree[name]
            literals.append(literal(tree))
        if len(set(literals)) < len(literals):
            raise CfsnnError("grid", f"{key}: a value is given twice in {raw!r}")
        return cls(key, tuple(literals))


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's definition. `grid` holds the axes (seeds included, as the `seed` field), or
    `trials` and `space` describe a search; `base` is the recipe with `--set` applied."""

    recipe: str
    overrides: tuple[str, ...]
    base: Recipe
    grid: tuple[GridAxis, ...] = ()
    trials: int | None = None
    space: dict[str, Dimension] = field(default_factory=dict)

    @property
    def is_search(self) -> bool:
        return self.trials is not None

    def points(self) -> list[dict[str, str]]:
        """Every grid configuration: field → TOML literal, fields in order."""
        fields = [axis.field for axis in self.grid]
        return [
            dict(zip(fields, values, strict=True)) for values in itertools.product(*(a.literals for a in self.grid))
        ]

    def recipe_for(self, assignment: dict[str, str], source: str = "grid") -> Recipe:
        """The recipe of one configuration (field → TOML literal); a mistake names `source`."""
        chosen = [f"{name}={value}" for name, value in assignment.items()]
        try:
            return load_recipe(self.recipe, [*self.overrides, *chosen])
        except CfsnnError as error:
            if error.source == "overrides" and any(_names(error.field, name) for name in assignment):
                where = ", ".join(chosen)
                raise CfsnnError(error.field, f"{error.problem} (in {where})", source) from None
            raise

    def definition(self) -> dict[str, Any]:
        """What makes two sweeps the same sweep: rerunning a command with the same definition
        resumes it; another one in the same folder is refused. A search's number of trials is not
        part of it, so a search can be rerun with more."""
        return {
            "recipe": self.base.to_dict(),
            "grid": {axis.field: list(axis.literals) for axis in self.grid},
            "space": {name: dimension.to_dict() for name, dimension in self.space.items()},
        }

    def study_name(self) -> str:
        """A name every machine running this sweep derives alike: the recipe's and the definition's hash."""
        digest = hashlib.sha256(json.dumps(self.definition(), sort_keys=True).encode()).hexdigest()[:12]
        return f"cfsnn-{self.base.name}-{digest}"


def _names(error_field: str, assigned: str) -> bool:
    return error_field == assigned or error_field.startswith(f"{assigned}.") or assigned.startswith(f"{error_field}.")


def run_name(assignment: dict[str, str]) -> str:
    """A grid configuration's run folder name: `loss.balance=0.1,neuron.kind=cf,seed=0`. Characters a
    file name should not hold become `_`, with a hash of the exact text so two names never meet."""
    text = ",".join(f"{name}={value.strip(chr(34))}" for name, value in sorted(assignment.items()))
    safe = UNSAFE_IN_NAMES.sub("_", text)
    if safe != text or len(safe) > LONGEST_NAME:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        safe = f"{safe[: LONGEST_NAME - 9]}-{digest}"
    return safe


def make_plan(
    recipe: str,
    overrides: list[str],
    grid: list[str],
    seeds: int,
    trials: int | None,
    space_file: Path | None,
) -> SweepPlan:
    """Read and check a whole sweep; every mistake is one CfsnnError naming the option.

    Args:
        recipe: a recipe file or a shipped recipe's name.
        overrides: `--set` texts, applied to every trial.
        grid: `--grid field=v1,v2` texts (a grid sweep; none means seeds only).
        seeds: runs per configuration, with seeds recipe.seed, recipe.seed + 1, ... (grid only).
        trials: the number of trials of a search (None: a grid sweep).
        space_file: the search's TOML space file (with `trials`).
    """
    resolve_recipe_path(recipe)  # a missing recipe is named as such, before any grid is read
    base = load_recipe(recipe, overrides)
    if seeds < 1:
        raise CfsnnError("seeds", f"must be >= 1 (got {seeds})")
    if trials is not None:
        if grid:
            raise CfsnnError("grid", "a sweep is a grid or a search (`trials`), not both")
        if seeds != 1:
            raise CfsnnError("seeds", "a search samples configurations: repeat the best one over seeds with a `grid`")
        if trials < 1:
            raise CfsnnError("trials", f"must be >= 1 trials (got {trials})")
        if space_file is None:
            raise CfsnnError("space_file", "a search (`trials`) needs a space file: its fields and their ranges")
        plan = SweepPlan(recipe, tuple(overrides), base, trials=trials, space=read_space(space_file))
        for corner in _space_corners(plan.space):
            plan.recipe_for(corner, source=str(space_file))
        return plan
    if space_file is not None:
        raise CfsnnError("space_file", "is read by a search: add `trials`")
    # in one order whatever the command line's: every process, and a rerun, see the same grid
    axes = sorted((GridAxis.parse(text) for text in grid), key=lambda axis: axis.field)
    axes = [GridAxis(axis.field, tuple(sorted(axis.literals))) for axis in axes]
    fields = [axis.field for axis in axes]
    for index, name in enumerate(fields):
        if name in fields[:index]:
            raise CfsnnError("grid", f"{name} is given twice; list all its values in one `grid` axis")
    if SEED_FIELD in fields and seeds != 1:
        raise CfsnnError("grid", "seed is swept by `seeds`; leave it out of the `grid` or set `seeds=1`")
    if SEED_FIELD not in fields:
        axes.append(GridAxis(SEED_FIELD, tuple(str(base.seed + offset) for offset in range(seeds))))
    plan = SweepPlan(recipe, tuple(overrides), base, grid=tuple(axes))
    seen: dict[str, dict[str, str]] = {}
    for point in plan.points():
        resolved = json.dumps(plan.recipe_for(point).to_dict(), sort_keys=True)
        if resolved in seen:  # `1` and `1.0`, or a value equal to the recipe's own default spelled out
            same = ", ".join(f"{name}={value}" for name, value in point.items())
            first = ", ".join(f"{name}={value}" for name, value in seen[resolved].items())
            raise CfsnnError("grid", f"{same} and {first} are the same recipe; list each value once")
        seen[resolved] = point
    return plan


def _space_corners(space: dict[str, Dimension]) -> list[dict[str, str]]:
    """The configurations at the ends of every range (and every choice): if these are valid recipes,
    so is any point a sampler draws between them."""
    return [
        dict(zip(space, values, strict=True)) for values in itertools.product(*(d.extremes() for d in space.values()))
    ]
