"""The recipe's sections: what each holds and checks, and how a layer over a section (a child recipe,
`--set`, a `[layers]` entry) merges into it. `cfsnn_cli.recipe` puts them together into a Recipe."""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.kinds import kind_constant, options_for
from cfsnn_cli.limits import MAX_TIMESTEPS
from cfsnn_cli.options import check_options

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
    init_from: str = Field(
        "",
        description="a checkpoint to start from (its weights, not its optimiser); with [quantize] a float one "
        "is folded and quantised first",
    )


class QuantizeSection(BaseModel):
    """Quantization-aware training for integer hardware (docs/deploy.md)."""

    model_config = STRICT
    enabled: bool = Field(False, description="train the integer model: fake-quantised weights and membranes")
    weight_bits: int = Field(8, ge=2, le=8, description="signed bits of every weight")
    scales: Literal["channel", "tensor"] = Field(
        "channel", description="one weight step per output channel or per layer"
    )
    input_bits: int = Field(8, ge=2, le=8, description="signed bits of the network's input")
    membrane_bits: int = Field(24, ge=8, le=32, description="signed bits of every membrane potential")
    leak_bits: int = Field(
        12, ge=1, le=16, description="fractional bits of the decay: beta = round(beta * 2^bits) / 2^bits"
    )
    leak_rounding: Literal["floor", "toward_zero", "leak_floor"] = Field(
        "floor",
        description="the decay's rounding: floor (an arithmetic shift), toward_zero (Loihi's) or leak_floor "
        "(V minus the leak shifted, Xylo's)",
    )


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


def merge_section(
    section: type[KindSection | FixedKindSection], old: dict[str, Any], new: dict[str, Any]
) -> dict[str, Any]:
    """`new`'s fields over `old`'s for one section. When `new` changes the `kind`, the keys of
    `old` that do not carry over to the new kind are dropped (options of a cf neuron mean nothing to
    a lif one, an mlp's list of widths nothing to a convnet); the section's own fields
    (`data.timesteps`, `loss.balance`, …) and options the two kinds share (`neuron.tau`) carry over."""
    old_kind, new_kind = old.get("kind", section.model_fields["kind"].default), new.get("kind")
    if isinstance(new_kind, str) and isinstance(old_kind, str) and new_kind != old_kind:
        old = {name: value for name, value in old.items() if section.carries_over(name, old_kind, new_kind)}
    return overlay(old, new)


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """A child layer over what it inherits: the child wins, field by field, and every key the
    child writes is kept; a section whose kind the child changes keeps only what carries over to
    the new kind (`merge_section`)."""
    merged = dict(base)
    for key, value in child.items():
        old = merged.get(key)
        if not (isinstance(value, dict) and isinstance(old, dict)):
            merged[key] = value
        elif key == "layers":
            merged[key] = {**old, **{name: merge_layer_entry(old.get(name), entry) for name, entry in value.items()}}
        else:
            section = SECTIONS_WITH_KIND.get(key) or FIXED_KIND_SECTIONS.get(key)
            merged[key] = merge_section(section, old, value) if section is not None else overlay(old, value)
    return merged


def merge_layer_entry(old: Any, new: Any) -> Any:
    """A child's `[layers.NAME]` over the parent's entry of that name, field by field. Where the
    parent's entry wrote a kind and the child's writes another, the parent entry's fields that do
    not carry over are dropped (`merge_section`); where the parent's entry wrote no kind, what kind
    its fields were meant for is the recipe's, so they are kept, and checked against the new kind."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    merged = overlay(old, new)
    for name, section in (("neuron", NeuronSection), ("surrogate", SurrogateSection)):
        inherited, written = old.get(name), new.get(name)
        if isinstance(inherited, dict) and isinstance(written, dict) and "kind" in inherited:
            merged[name] = merge_section(section, inherited, written)
    return merged
