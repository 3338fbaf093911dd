"""The recipe: a TOML file validated once, here, before anything is built.

Sections: name, description, seed, data, model, neuron, surrogate, loss, optim, schedule, train
(docs/recipes.md documents every field). Sections with a `kind` take that kind's options, checked
against its builder's signature. `extends = "base.toml"` inherits from another recipe;
`--set section.field=value` overrides a field with a TOML literal.
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.options import first_problem
from cfsnn_cli.recipe_layers import LayerEntries, LayerEntry, entry_error, entry_sections
from cfsnn_cli.recipe_sections import (
    FIXED_KIND_SECTIONS,
    SECTIONS_WITH_KIND,
    DataSection,
    KindSection,
    LossSection,
    ModelSection,
    NeuronSection,
    OptimSection,
    QuantizeSection,
    ScheduleSection,
    SurrogateSection,
    TrainSection,
    merge,
    overlay,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI
    import tomli as tomllib

SHIPPED = Path(__file__).parent / "recipes"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    seed: int = Field(0, ge=0)
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    neuron: NeuronSection = NeuronSection()
    surrogate: SurrogateSection = SurrogateSection()
    loss: LossSection = LossSection()
    optim: OptimSection = OptimSection()
    schedule: ScheduleSection = ScheduleSection()
    train: TrainSection = TrainSection()
    quantize: QuantizeSection = QuantizeSection()
    layers: LayerEntries = Field(default_factory=dict)

    def check_kinds_and_cross_sections(self, construct: bool = True) -> None:
        """What pydantic cannot see: each kind's options (the `[layers]` entries' included),
        cross-section rules and, with `construct`, the bounds the constructors know
        (`check_constructors`, which imports torch) and the `[layers]` entries matched against the
        model's layers and, with `[quantize]` on, its operations against the integer path's
        (`check_model_builds`). (Run after pydantic, not inside it: pydantic would
        rewrap our one-line errors.)"""
        for section in SECTIONS_WITH_KIND:
            getattr(self, section).check_kind()
        entries = {name: entry_sections(self, name) for name in self.layers}
        if construct:
            self.check_constructors(entries)
        for section in FIXED_KIND_SECTIONS:
            chosen = getattr(self, section)
            for name in chosen.ignored_fields():
                uses = ", ".join(sorted(chosen.fields_by_kind[chosen.kind])) or "no other field"
                raise CfsnnError(
                    f"{section}.{name}", f"{section} kind {chosen.kind!r} does not use it (it uses: {uses})"
                )
        self.check_cross_field_bounds()
        if construct and (self.layers or self.quantize.enabled):
            self.check_model_builds()

    def check_constructors(self, entries: dict[str, tuple[NeuronSection, SurrogateSection]]) -> None:
        """Bounds the constructors know (tau >= 1, alpha > alpha_min, …): build a throwaway neuron
        layer for `[neuron]` and for each `[layers]` entry (`entries`, its sections by name), and
        the objective, which costs microseconds once torch is imported."""
        from cfsnn_cli.engine.layer_settings import build_neuron_layer
        from cfsnn_cli.losses import Objective

        build_neuron_layer(self.neuron, self.surrogate, self.data.timesteps)
        for name, sections in entries.items():
            try:
                build_neuron_layer(*sections, self.data.timesteps)
            except CfsnnError as error:
                raise entry_error(self, name, error) from None
        try:
            Objective(
                self.loss.kind, balance=self.loss.balance, granularity=self.loss.granularity, **self.loss.options()
            )
        except CfsnnError as error:
            raise error.within("loss") from None

    def check_model_builds(self) -> None:
        """Build the model on the meta device (no memory, no data): a `[layers]` entry that matches
        nothing or contradicts another, or with `[quantize]` an operation the integer path lacks, is
        refused while the recipe is read, where its field can be traced to the file or `--set`.
        Left to the build for a dataset kind that cannot tell its input shape without its data."""
        from cfsnn_cli.data.registry import INPUT_SHAPES
        from cfsnn_cli.engine.build import build_on_meta_device

        if self.data.kind in INPUT_SHAPES.kinds():
            build_on_meta_device(self)

    def check_cross_field_bounds(self) -> None:
        optim, schedule, epochs = self.optim, self.schedule, self.train.epochs
        if self.quantize.enabled and self.train.precision != "fp32":
            raise CfsnnError(
                "train.precision",
                "a quantised model trains in fp32: bfloat16 products cannot hold its integer accumulators exactly",
            )
        if optim.kind == "sgd" and optim.nesterov and optim.momentum == 0:
            raise CfsnnError("optim.nesterov", "needs optim.momentum > 0")
        if schedule.warmup_epochs >= epochs:
            raise CfsnnError(
                "schedule.warmup_epochs", f"must be < train.epochs = {epochs} (got {schedule.warmup_epochs})"
            )
        if schedule.kind == "cosine" and schedule.min_lr > optim.lr:
            raise CfsnnError(
                "schedule.min_lr",
                f"must be <= optim.lr = {optim.lr:g} (got {schedule.min_lr:g}): the rate would rise, not decay",
            )
        if schedule.kind == "step" and schedule.step_size >= epochs:
            raise CfsnnError(
                "schedule.step_size",
                f"must be < train.epochs = {epochs} (got {schedule.step_size}): the rate would never decay; "
                "use schedule.kind = 'constant' for that",
            )

    def to_dict(self) -> dict[str, Any]:
        # Python mode, not pydantic's JSON mode, which turns `tau = inf` into null; json and TOML
        # both write and read back infinity.
        resolved = self.model_dump()
        for entry in resolved["layers"].values():  # a table an entry leaves empty says nothing
            for section in ("neuron", "surrogate"):
                if not entry[section]:
                    del entry[section]
        for section in FIXED_KIND_SECTIONS:  # what the kind ignores is not part of the recipe
            chosen = getattr(self, section)
            used = chosen.fields_by_kind[chosen.kind] | {"kind"}
            resolved[section] = {name: value for name, value in resolved[section].items() if name in used}
        return resolved

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())


# -- reading -----------------------------------------------------------------------------------


def shipped_recipes() -> list[str]:
    return sorted(path.stem for path in SHIPPED.glob("*.toml") if not path.stem.startswith("_"))


def resolve_recipe_path(path_or_name: str, relative_to: Path | None = None) -> Path:
    """A path that exists wins; otherwise a shipped recipe's name (with or without .toml)."""
    candidate = Path(path_or_name).expanduser()
    if relative_to is not None and not candidate.is_absolute():
        nearby = relative_to / candidate
        if nearby.is_file():
            return nearby
    if candidate.is_file():
        return candidate
    shipped = SHIPPED / (candidate.name if candidate.suffix == ".toml" else f"{candidate.name}.toml")
    if candidate.parent == Path(".") and shipped.is_file():
        return shipped
    raise CfsnnError(
        "recipe",
        f"no file {path_or_name!r} and no shipped recipe of that name (shipped: {', '.join(shipped_recipes())})",
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CfsnnError("toml", f"syntax error: {error}", str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CfsnnError("recipe", f"cannot read {path}: {error}") from None


def _read_with_parents(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " → ".join(str(p) for p in (*seen, resolved))
        raise CfsnnError("extends", f"recipes extend each other in a circle: {chain}", str(path))
    data = _read_toml(path)
    parent_name = data.pop("extends", None)
    if parent_name is None:
        return data
    if not isinstance(parent_name, str):
        raise CfsnnError("extends", "must be a file name or a shipped recipe's name", str(path))
    try:
        parent = resolve_recipe_path(parent_name, relative_to=path.parent)
    except CfsnnError as error:
        raise CfsnnError("extends", error.problem, str(path)) from None
    return merge(_read_with_parents(parent, (*seen, resolved)), data)


def parse_override(text: str) -> dict[str, Any]:
    """`section.field=value` → {"section": {"field": value}}, value read as a TOML literal
    (a bare word that is not one, such as `lif`, is taken as a string)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key):
        raise CfsnnError("overrides", f"expected section.field=value, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _known_fields(field: str) -> str | None:
    """What may stand where an unknown `field` was written: the recipe's sections for a top-level
    key, a fixed section's fields (`optim.betas` → `optim`'s), a `[layers]` entry's; None where
    check_options says it."""
    section, _, rest = field.partition(".")
    if not rest:
        return ", ".join(Recipe.model_fields)
    if section == "layers":
        return ", ".join(LayerEntry.model_fields)
    info = Recipe.model_fields.get(section)
    model = info.annotation if info is not None else None
    if isinstance(model, type) and issubclass(model, BaseModel) and not issubclass(model, KindSection):
        return ", ".join(model.model_fields)
    return None


def locate_error(error: CfsnnError, source: str, overridden: frozenset[str]) -> CfsnnError:
    """`error` placed where its field was written: `overrides` for a field in `overridden` (dotted
    names, `overridden_fields`), else the recipe file `source`."""
    # the field itself, a table holding it, or a table the command line wrote into (a new entry)
    from_command_line = any(
        error.field == key or error.field.startswith(f"{key}.") or key.startswith(f"{error.field}.")
        for key in overridden
    )
    return error.from_source("overrides" if from_command_line else source)


def overridden_fields(overrides: list[str]) -> frozenset[str]:
    """The dotted fields a list of `--set` overrides sets."""
    command_line: dict[str, Any] = {}
    for text in overrides:
        command_line = overlay(command_line, parse_override(text))
    return frozenset(_dotted_keys(command_line))


def validate_recipe(
    data: dict[str, Any], source: str, overridden: frozenset[str] = frozenset(), construct: bool = True
) -> Recipe:
    """A Recipe, or one CfsnnError naming the field and where it came from: `overrides` for a field
    in `overridden` (dotted names), else the file `source`. Without `construct`, the bounds only
    a constructor knows are left to whoever builds the recipe (and torch is not imported)."""

    def located(error: CfsnnError) -> CfsnnError:
        return locate_error(error, source, overridden)

    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        problem = first_problem(error)
        known = _known_fields(problem.field)
        if problem.problem == "unknown option" and known is not None:
            problem = CfsnnError(problem.field, f"unknown option (known: {known})")
        raise located(problem) from None
    try:
        recipe.check_kinds_and_cross_sections(construct)
    except CfsnnError as error:
        raise located(error) from None
    return recipe


def _dotted_keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """The fields a tree of overrides sets (`neuron.tau`), not the sections that hold them."""
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            keys |= _dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


def load_recipe(path_or_name: str, overrides: list[str] = (), construct: bool = True) -> Recipe:
    """Read, inherit, override and validate a recipe; every problem is one CfsnnError.

    All `--set` overrides form one layer over the file, so their order never matters (beyond the
    last of two values for one field winning) and each value in it is kept across a kind change.
    `construct=False` leaves out the checks only a constructor makes (`Recipe.check_constructors`):
    every field, type, bound in a signature and rule between sections is still checked, without
    torch (`cfsnn recipes show`).
    """
    path = resolve_recipe_path(path_or_name)
    command_line: dict[str, Any] = {}
    for text in overrides:
        command_line = overlay(command_line, parse_override(text))
    from_file = _read_with_parents(path)
    data = merge(from_file, command_line)
    overridden = _dotted_keys(command_line)
    # an entry the command line makes (a typo of a file's entry among them) is the command line's
    # in every field, the ones it lacks included: `layers.atention.match: is required` names --set
    file_entries = from_file.get("layers", {}) if isinstance(from_file.get("layers"), dict) else {}
    command_line_entries = command_line.get("layers", {}) if isinstance(command_line.get("layers"), dict) else {}
    overridden |= {f"layers.{name}" for name in command_line_entries if name not in file_entries}
    return validate_recipe(data, str(path), frozenset(overridden), construct)


def recipe_from_json(text: str, source: str) -> Recipe:
    """The resolved recipe stored inside a checkpoint."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CfsnnError("recipe", f"the stored recipe is not valid JSON ({error})", source) from None
    return validate_recipe(data, source)
