"""A search's space: a small TOML file naming recipe fields and the ranges a sampler draws from.

    ["optim.lr"]            # a float range; `log = true` samples its logarithm evenly
    low = 1e-4
    high = 1e-2
    log = true

    ["neuron.levels"]       # integer ends: an integer range (`step` optional)
    low = 1
    high = 3

    ["loss.balance"]        # a list of choices (any TOML values)
    choices = [0.0, 0.1, 1.0]

Nested tables (`[optim.lr]`) mean the same as quoted dotted names.
"""

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.sweep.literals import literal

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

RANGE_KEYS = {"low", "high", "log", "step"}


@dataclass(frozen=True)
class Dimension:
    """One field of the space: a range [low, high] (ints when both ends are) or a list of choices
    (held as TOML literals, as grid values are)."""

    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[str, ...] = ()

    @property
    def is_integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def extremes(self) -> list[str]:
        """The TOML literals at the ends of the range, or every choice."""
        return list(self.choices) if self.choices else [literal(self.low), literal(self.high)]

    def suggest(self, trial, name: str) -> str:
        """Draw this field's value for an Optuna trial; returns it as a TOML literal."""
        if self.choices:
            return trial.suggest_categorical(name, list(self.choices))
        if self.is_integer:
            return literal(trial.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log))
        return literal(trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log))

    def to_dict(self) -> dict[str, Any]:
        if self.choices:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}


def _dimension(name: str, table: dict[str, Any], where: str) -> Dimension:
    def refuse(problem: str) -> CfsnnError:
        return CfsnnError(name, problem, where)

    if "choices" in table:
        if set(table) != {"choices"}:
            raise refuse("takes either choices or low/high (with log, step), not both")
        choices = table["choices"]
        if not isinstance(choices, list) or not choices:
            raise refuse("choices must be a non-empty list")
        literals = tuple(literal(choice) for choice in choices)
        if len(set(literals)) < len(literals):
            raise refuse("a choice is listed twice")
        return Dimension(choices=literals)
    unknown = set(table) - RANGE_KEYS
    if unknown:
        raise refuse(f"unknown key {sorted(unknown)[0]!r} (a range takes low, high, log, step; or give choices)")
    if "low" not in table or "high" not in table:
        raise refuse("needs low and high (or choices)")
    low, high, log, step = table["low"], table["high"], table.get("log", False), table.get("step")
    for key, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise refuse(f"{key} must be a number (got {value!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise refuse(f"{key} must be finite (got {value!r})")
    if not isinstance(log, bool):
        raise refuse(f"log must be true or false (got {log!r})")
    if not low < high:
        raise refuse(f"low must be < high (got {low} and {high})")
    if log and low <= 0:
        raise refuse(f"a log range needs low > 0 (got {low})")
    if step is not None and (step <= 0 or log):
        raise refuse("step must be > 0, and cannot go with log")
    return Dimension(low=low, high=high, log=log, step=step)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """`{"optim": {"lr": {"low": ...}}}` → `{"optim.lr": {"low": ...}}`: a table holding range or
    choice keys is a field; any other table is a section."""
    fields = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if not isinstance(value, dict):
            raise CfsnnError(name, "must be a table of low/high or choices")
        found = {name: value} if set(value) & (RANGE_KEYS | {"choices"}) else _flatten(value, f"{name}.")
        for field in found:
            if field in fields:  # `["optim.lr"]` and `[optim] lr = {...}` in one file
                raise CfsnnError(field, "is given twice")
        fields.update(found)
    return fields


def read_space(path: Path) -> dict[str, Dimension]:
    """The fields of a space file and their dimensions; any problem is one CfsnnError naming the file."""
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise CfsnnError("space_file", f"cannot read {path}: {reason}") from None
    except tomllib.TOMLDecodeError as error:
        raise CfsnnError("space_file", f"syntax error: {error}", str(path)) from None
    try:
        fields = _flatten(tree)
    except CfsnnError as error:
        raise error.from_source(str(path)) from None
    if not fields:
        raise CfsnnError("space_file", "names no field to search", str(path))
    if "seed" in fields:
        raise CfsnnError(
            "seed",
            "is not searched: a search runs the recipe's seed (repeat a configuration over seeds with a `grid`)",
            str(path),
        )
    return {name: _dimension(name, table, str(path)) for name, table in fields.items()}
