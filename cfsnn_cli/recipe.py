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
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.kinds import kind_constant, options_for
from cfsnn_cli.limits import MAX_TIMESTEPS
from cfsnn_cli.options import check_options, first_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI
    import tomli as tomllib

SHIPPED = Path(__file__).parent / "recipes"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


# Every field is strict: a recipe that writes `timesteps = "8"` or `epochs = 2.0` is refused, never
# coerced (an int is still a valid float). A kind's options (`bipolar = "yes"`) are checked just as
# strictly by options.options_model.
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class KindSection(BaseModel):
    """A section whose `kind` picks a registered builder; the other keys are that kind's options,
    checked against the kind's options model (kinds.options_for: no torch for a shipped kind)."""

    model_config = ConfigDict(STRICT, extra="allow")  # the extra keys are the kind's options
    kind: str
    section: ClassVar[str]  # the recipe section's name, which is also the kind catalogue's

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @classmethod
    def options_model(cls, kind: str) -> type[BaseModel]:
        try:
            return options_for(cls.section, kind)
        except CfsnnError as error:
            raise error.within(cls.section) from None

    def check_kind(self) -> None:
        checked = check_options(self.section, self.options_model(self.kind), self.kind, self.options())
        self.__pydantic_extra__ = checked  # the resolved recipe spells out every default

    # options whose meaning depends on the kind, so they never carry over a change of kind
    kind_specific: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def carries_over(cls, name: str, old_kind: str, new_kind: str) -> bool:
        """Whether an inherited key survives a change of kind: the section's own fields do; a kind
        option only if the new kind takes an option of that name with the same type and meaning
        (convnet's `hidden` is one width, mlp's a list of widths: the new kind's default is used)."""
        if name in cls.model_fields:
            return True
        if name in cls.kind_specific:
            return False
        try:
            old = cls.options_model(old_kind).model_fields.get(name)
            new = cls.options_model(new_kind).model_fields.get(name)
        except CfsnnError:
            return False
        return old is not None and new is not None and old.annotation == new.annotation and old.metadata == new.metadata


class DataSection(KindSection):
    section = "data"
    kind: str = "digits"
    timesteps: int = Field(4, ge=1, le=MAX_TIMESTEPS, description="T: time steps per sample")
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    workers: int = Field(0, ge=0, description="DataLoader worker processes")


class ModelSection(KindSection):
    section = "model"
    kind: str = "mlp"


class NeuronSection(KindSection):
    section = "neuron"
    kind: str = "cf"


class SurrogateSection(KindSection):
    section = "surrogate"
    kind_specific = frozenset({"alpha"})  # each primitive's α has its own scale (sigmoid 4, atan 2)
    kind: str = "sigmoid"

    def check_kind(self) -> None:
        super().check_kind()
        # an unset α means the primitive's own default: spelled out, so the resolved recipe shows it
        if self.__pydantic_extra__.get("alpha") is None:
            self.__pydantic_extra__["alpha"] = kind_constant(self.section, self.kind, "default_alpha")


class LossSection(KindSection):
    section = "loss"
    kind: str = "ce"
    balance: float = Field(0.0, ge=0, description="λ of the PN term; 0 turns it off")
    granularity: Literal["layer", "channel"] = "layer"


class FixedKindSection(BaseModel):
    """A section whose `kind` picks among fixed choices, each using some of the section's fields.
    A field the chosen kind ignores is refused when written, and left out of the resolved recipe."""

    model_config = STRICT
    fields_by_kind: ClassVar[dict[str, frozenset[str]]] = {}

    @classmethod
    def carries_over(cls, name: str, old_kind: str, new_kind: str) -> bool:
        return name in cls.fields_by_kind[new_kind]

    def ignored_fields(self) -> list[str]:
        """Fields written (not defaulted) that this kind does not use."""
        used = self.fields_by_kind[self.kind] | {"kind"}
        return sorted(name for name in self.model_fields_set if name not in used)


class OptimSection(FixedKindSection):
    fields_by_kind = {
        "sgd": frozenset({"lr", "weight_decay", "momentum", "nesterov"}),
        "adamw": frozenset({"lr", "weight_decay"}),
    }
    kind: Literal["sgd", "adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    nesterov: bool = False


class ScheduleSection(FixedKindSection):
    fields_by_kind = {
        "cosine": frozenset({"warmup_epochs", "min_lr"}),
        "step": frozenset({"warmup_epochs", "step_size", "gamma"}),
        "constant": frozenset({"warmup_epochs"}),
    }
    kind: Literal["cosine", "step", "constant"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)
    min_lr: float = Field(0.0, ge=0, description="cosine: the final learning rate")
    step_size: int = Field(30, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, le=1, description="step: the decay factor")


class TrainSection(BaseModel):
    model_config = STRICT
    epochs: int = Field(10, ge=1)
    precision: Literal["fp32", "bf16"] = "fp32"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    grad_clip: float = Field(0.0, ge=0, description="max gradient norm; 0 = off")
    compile: bool = Field(False, description="run the training steps through torch.compile")
    channels_last: bool = Field(False, description="train with conv weights in the channels-last layout")
    recompute_blocks: bool = Field(
        False, description="run each block's forward again in backward instead of keeping it: less memory at long T"
    )
    tensorboard: bool = Field(False, description="write per-epoch TensorBoard curves to the run folder's tb/")


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

    def check_kinds_and_cross_sections(self, construct: bool = True) -> None:
        """What pydantic cannot see: each kind's options, cross-section rules and, with
        `construct`, the bounds the constructors know (`check_constructors`, which imports torch).
        (Run after pydantic, not inside it: pydantic would rewrap our one-line errors.)"""
        for section in SECTIONS_WITH_KIND:
            getattr(self, section).check_kind()
        if construct:
            self.check_constructors()
        for section in FIXED_KIND_SECTIONS:
            chosen = getattr(self, section)
            for name in chosen.ignored_fields():
                uses = ", ".join(sorted(chosen.fields_by_kind[chosen.kind])) or "no other field"
                raise CfsnnError(
                    f"{section}.{name}", f"{section} kind {chosen.kind!r} does not use it (it uses: {uses})"
                )
        self.check_cross_field_bounds()

    def check_constructors(self) -> None:
        """Bounds the constructors know (tau >= 1, alpha > alpha_min, …): build a throwaway neuron,
        surrogate and objective, which costs microseconds once torch is imported."""
        from cfsnn_cli.losses import Objective
        from cfsnn_cli.neurons import build_neuron
        from cfsnn_cli.surrogates import build_surrogate

        try:
            surrogate = build_surrogate(self.surrogate.kind, timesteps=self.data.timesteps, **self.surrogate.options())
        except CfsnnError as error:
            raise error.within("surrogate") from None
        try:
            build_neuron(self.neuron.kind, surrogate=surrogate, **self.neuron.options())
        except CfsnnError as error:
            raise error.within("neuron") from None
        try:
            Objective(
                self.loss.kind, balance=self.loss.balance, granularity=self.loss.granularity, **self.loss.options()
            )
        except CfsnnError as error:
            raise error.within("loss") from None

    def check_cross_field_bounds(self) -> None:
        optim, schedule, epochs = self.optim, self.schedule, self.train.epochs
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


SECTIONS_WITH_KIND = {
    "data": DataSection,
    "model": ModelSection,
    "neuron": NeuronSection,
    "surrogate": SurrogateSection,
    "loss": LossSection,
}
FIXED_KIND_SECTIONS = {"optim": OptimSection, "schedule": ScheduleSection}


def overlay(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Child wins, key by key, nested dicts merged; nothing is dropped."""
    merged = dict(base)
    for key, value in child.items():
        old = merged.get(key)
        merged[key] = overlay(old, value) if isinstance(value, dict) and isinstance(old, dict) else value
    return merged


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """A child layer over what it inherits: the child wins, field by field, and every key the
    child writes is kept. When the child changes a section's `kind`, the inherited keys that do not
    carry over to the new kind are dropped (options of a cf neuron mean nothing to a lif one, an
    mlp's list of widths nothing to a convnet); the section's own fields (`data.timesteps`,
    `loss.balance`, …) and options the two kinds share (`neuron.tau`) carry over."""
    merged = dict(base)
    for key, value in child.items():
        old = merged.get(key)
        section = SECTIONS_WITH_KIND.get(key) or FIXED_KIND_SECTIONS.get(key)
        if section is not None and isinstance(value, dict) and isinstance(old, dict):
            old_kind, new_kind = old.get("kind", section.model_fields["kind"].default), value.get("kind")
            if isinstance(new_kind, str) and isinstance(old_kind, str) and new_kind != old_kind:
                old = {name: v for name, v in old.items() if section.carries_over(name, old_kind, new_kind)}
        merged[key] = overlay(old, value) if isinstance(value, dict) and isinstance(old, dict) else value
    return merged


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
    key, a fixed section's fields (`optim.betas` → `optim`'s); None where check_options says it."""
    section, _, rest = field.partition(".")
    if not rest:
        return ", ".join(Recipe.model_fields)
    info = Recipe.model_fields.get(section)
    model = info.annotation if info is not None else None
    if isinstance(model, type) and issubclass(model, BaseModel) and not issubclass(model, KindSection):
        return ", ".join(model.model_fields)
    return None


def locate_error(error: CfsnnError, source: str, overridden: frozenset[str]) -> CfsnnError:
    """`error` placed where its field was written: `overrides` for a field in `overridden` (dotted
    names, `overridden_fields`), else the recipe file `source`."""
    from_command_line = any(error.field == key or error.field.startswith(f"{key}.") for key in overridden)
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
    data = merge(_read_with_parents(path), command_line)
    return validate_recipe(data, str(path), frozenset(_dotted_keys(command_line)), construct)


def recipe_from_json(text: str, source: str) -> Recipe:
    """The resolved recipe stored inside a checkpoint."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CfsnnError("recipe", f"the stored recipe is not valid JSON ({error})", source) from None
    return validate_recipe(data, source)
