"""Kind-specific recipe options, validated against the signature of the registered builder.

A section such as `[neuron]` holds `kind = "cf"` plus that kind's options. The builder's keyword
arguments (names, type hints, defaults) are the single source of truth: a pydantic model made from
them refuses unknown keys and wrong types, naming the field, and fills in the defaults. Arguments
the engine supplies itself (the neuron factory, the number of classes, …) are not recipe options.
"""

import inspect
from functools import cache
from typing import Annotated, Any

from annotated_types import Ge, Lt, MinLen
from pydantic import AllowInfNan, BaseModel, ConfigDict, ValidationError, create_model

from cfsnn_cli.errors import CfsnnError

# Filled in by the engine when it builds, never by a recipe.
ENGINE_SUPPLIED = frozenset(
    {"self", "neuron", "surrogate", "num_classes", "input_shape", "timesteps", "split", "augment", "kind"}
)


# Bounds written into builder signatures, so that a recipe is checked before anything is built.
# They (and the bounds written inline in builders) are annotated-types markers, which pydantic
# reads as it reads Field(ge=…), and not Field(…) itself: a marker's repr is its bound, so help()
# shows `Annotated[int, Ge(ge=1)]` where a FieldInfo prints a line of pydantic internals, and
# the signature stays the real one (no __signature__ or repr override to keep in step).
PositiveInt = Annotated[int, Ge(1)]
NonNegativeInt = Annotated[int, Ge(0)]
NonNegative = Annotated[float, Ge(0)]
Probability = Annotated[float, Ge(0), Lt(1)]
Widths = Annotated[list[PositiveInt], MinLen(1)]
InfiniteAllowed = Annotated[float, AllowInfNan()]  # `tau = inf`: a neuron with no leak


@cache
def options_model(builder: Any) -> type[BaseModel]:
    """The pydantic model of `builder`'s recipe options, made from its signature.

    Args:
        builder: a registered class (its `__init__` is read) or builder function. Every keyword
            argument becomes a field with its type hint (bounds included) and default, except
            those the engine supplies (`ENGINE_SUPPLIED`) and `*args` / `**kwargs`.

    Returns:
        A model that refuses unknown keys (`extra="forbid"`) and non-finite floats unless the
        hint allows them; its `model_fields` are the kind's recipe options.
    """
    target = builder.__init__ if inspect.isclass(builder) else builder
    hints = inspect.get_annotations(target, eval_str=True)
    fields = {}
    for name, parameter in inspect.signature(target).parameters.items():
        if name in ENGINE_SUPPLIED or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (hints.get(name, Any), default)
    return create_model(
        f"{getattr(builder, '__name__', 'builder')}Options",
        __config__=ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True, allow_inf_nan=False),
        **fields,
    )


def first_problem(error: ValidationError, section: str = "") -> CfsnnError:
    """The first pydantic problem as one CfsnnError naming `section.field`."""
    problem = error.errors()[0]
    field = ".".join(str(part) for part in (section, *problem["loc"]) if part not in ("", "[key]")) or "recipe"
    if "[key]" in problem["loc"]:  # a table's key (a `[layers]` entry's name), not one of its values
        return CfsnnError(field, f"is not a name cfsnn takes here: {problem['msg'][0].lower()}{problem['msg'][1:]}")
    if problem["type"] == "extra_forbidden":
        return CfsnnError(field, "unknown option")
    if problem["type"] == "missing":
        return CfsnnError(field, "is required")
    message = problem["msg"]
    return CfsnnError(field, message[0].lower() + message[1:])


def check_options(section: str, model: type[BaseModel], kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of `kind` (whose options model is `model`) with types checked and defaults
    filled in, or a CfsnnError."""
    try:
        checked = model.model_validate(options)
    except ValidationError as error:
        problem = first_problem(error, section)
        if problem.problem == "unknown option":
            known = ", ".join(model.model_fields) or "none"
            problem = CfsnnError(problem.field, f"unknown option for {section} kind {kind!r} (known: {known})")
        raise problem from None
    return checked.model_dump(exclude_none=True)  # TOML has no null: an unset "None" default stays unset
