"""Every registered kind's recipe options, known without importing the kinds themselves.

A recipe's `[neuron]`, `[surrogate]`, `[loss]`, `[model]` and `[data]` take their kind's options,
whose names, types, bounds and defaults are the builders' signatures (options.options_model). The
builders' modules import torch and torchvision, seconds that `cfsnn recipes` and `cfsnn recipes
show` should not pay. So kinds.json holds each shipped kind's options as the JSON schema pydantic
makes of its signature, and `options_for` turns an entry back into the same pydantic model.
`python -m cfsnn_cli.kinds` writes the file from the builders; tests/test_kinds.py fails while it
differs from them. A kind registered at run time (a user's own) is not in the file: its builder is
read from the live registry, which the user's code has already imported.
"""

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import AllowInfNan, BaseModel, ConfigDict, create_model

CATALOGUE = Path(__file__).with_name("kinds.json")
# each recipe section with a registered kind → where its registry lives
REGISTRIES = {
    "data": ("cfsnn_cli.data", "DATASETS"),
    "model": ("cfsnn_cli.models", "MODELS"),
    "neuron": ("cfsnn_cli.neurons", "NEURONS"),
    "surrogate": ("cfsnn_cli.surrogates", "SURROGATES"),
    "loss": ("cfsnn_cli.losses", "TASK_LOSSES"),
}
ALLOWS_INF = "x-allow-inf-nan"  # JSON schema has no word for a float that may be inf: ours
OPTIONS_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)  # as options.options_model's
BOUNDS = {"minimum": Ge, "maximum": Le, "exclusiveMinimum": Gt, "exclusiveMaximum": Lt, "minItems": MinLen}
TYPES = {"integer": int, "number": float, "boolean": bool, "string": str, "null": type(None)}


def live_registry(section: str):
    """The registry of `section`'s kinds, imported (and with it torch)."""
    module, name = REGISTRIES[section]
    return getattr(importlib.import_module(module), name)


@cache
def _catalogue() -> dict[str, dict[str, Any]]:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def _annotation(schema: dict[str, Any]) -> Any:
    """The type hint a property's JSON schema was made from (for the types recipe options use)."""
    if "anyOf" in schema:
        first, *rest = (_annotation(part) for part in schema["anyOf"])
        return Optional[first] if rest == [type(None)] else first  # noqa: UP045 (a runtime value, not a hint)
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    base = list[_annotation(schema["items"])] if schema["type"] == "array" else TYPES[schema["type"]]
    bounds = [bound(schema[key]) for key, bound in BOUNDS.items() if key in schema]
    if schema.get(ALLOWS_INF):
        bounds.append(AllowInfNan())
    return Annotated[(base, *bounds)] if bounds else base


def model_from_entry(entry: dict[str, Any]) -> type[BaseModel]:
    """The pydantic model of a catalogue entry: the options model it was written from."""
    schema = entry["schema"]
    required = set(schema.get("required", []))
    fields = {
        name: (_annotation(prop), ... if name in required else prop.get("default"))
        for name, prop in schema.get("properties", {}).items()
    }
    return create_model(schema["title"], __config__=OPTIONS_CONFIG, **fields)


@cache
def _cached_model(section: str, kind: str) -> type[BaseModel]:
    return model_from_entry(_catalogue()[section][kind])


def options_for(section: str, kind: str) -> type[BaseModel]:
    """The options model of `section`'s `kind`.

    Raises:
        CfsnnError: naming `kind`, for a kind neither the catalogue nor the registry knows.
    """
    if kind in _catalogue().get(section, {}):
        return _cached_model(section, kind)
    from cfsnn_cli.options import options_model

    return options_model(live_registry(section).get(kind))


def kind_constant(section: str, kind: str, name: str) -> Any:
    """A class constant a kind declares (a surrogate's `default_alpha`)."""
    entry = _catalogue().get(section, {}).get(kind)
    if entry is not None:
        return entry["constants"][name]
    return getattr(live_registry(section).get(kind), name)


# -- writing the catalogue -------------------------------------------------------------------------

CONSTANTS = {"surrogate": ("default_alpha",)}


def entry_of(builder: Any, section: str) -> dict[str, Any]:
    """A builder's catalogue entry: its options' JSON schema and the constants recipes read."""
    from cfsnn_cli.options import options_model

    model = options_model(builder)
    schema = model.model_json_schema()
    for name, field in model.model_fields.items():
        if any(isinstance(marker, AllowInfNan) and marker.allow_inf_nan for marker in field.metadata):
            schema["properties"][name][ALLOWS_INF] = True
    return {"schema": schema, "constants": {name: getattr(builder, name) for name in CONSTANTS.get(section, ())}}


def catalogue_from_registries() -> dict[str, dict[str, Any]]:
    """Every registered kind's entry, from the live registries (imports torch)."""
    return {
        section: {kind: entry_of(live_registry(section).get(kind), section) for kind in live_registry(section).kinds()}
        for section in REGISTRIES
    }


def write_catalogue() -> None:
    """Write kinds.json from the builders' signatures."""
    from cfsnn_cli.atomic import atomic_write_text

    text = json.dumps(catalogue_from_registries(), indent=1, sort_keys=True) + "\n"
    atomic_write_text(CATALOGUE, text)


if __name__ == "__main__":
    write_catalogue()
    print(f"wrote {CATALOGUE}")
