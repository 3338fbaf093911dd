"""Neuron layers from recipe sections: the recipe's `[neuron]` and `[surrogate]` for every layer,
then each layer a `[layers]` entry matches rebuilt with its own (`cfsnn_cli/recipe_layers.py`)."""

from dataclasses import dataclass
from typing import Any

from torch import nn

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons import SpikingNeuron, build_neuron
from cfsnn_cli.neurons.layers import named_neuron_layers, replace_neuron_layer
from cfsnn_cli.recipe import Recipe
from cfsnn_cli.recipe_layers import resolve_layers
from cfsnn_cli.recipe_sections import NeuronSection, SurrogateSection
from cfsnn_cli.surrogates import build_surrogate


def build_neuron_layer(neuron: NeuronSection, surrogate: SurrogateSection, timesteps: int) -> SpikingNeuron:
    """A fresh neuron layer, with its own surrogate and parameters, from a `[neuron]` and a
    `[surrogate]` section (the recipe's, or one layer's resolved from `[layers]`).

    Raises:
        CfsnnError: a bound only the constructors know (tau >= 1, alpha > alpha_min, …), its field
            under "neuron" or "surrogate".
    """
    try:
        smooth = build_surrogate(surrogate.kind, timesteps=timesteps, **surrogate.options())
    except CfsnnError as error:
        raise error.within("surrogate") from None
    try:
        return build_neuron(neuron.kind, surrogate=smooth, **neuron.options())
    except CfsnnError as error:
        raise error.within("neuron") from None


def apply_layer_settings(model: nn.Module, recipe: Recipe) -> None:
    """Rebuild, in place, each neuron layer of `model` that a `[layers]` entry of `recipe` matches,
    from its resolved sections; the model's own choices for the layer
    (`SpikingNeuron.MODEL_SET_ATTRIBUTES`) are kept.

    Raises:
        CfsnnError: an entry matches no layer, two entries contradict each other, or a layer's
            fields do not fit its kind; named under `layers.NAME`.
    """
    if not recipe.layers:
        return
    layers = dict(named_neuron_layers(model))
    for name, setting in resolve_layers(recipe, list(layers)).items():
        try:
            fresh = build_neuron_layer(setting.neuron, setting.surrogate, recipe.data.timesteps)
        except CfsnnError as error:
            raise setting.blame(error) from None
        for attribute in SpikingNeuron.MODEL_SET_ATTRIBUTES:
            setattr(fresh, attribute, getattr(layers[name], attribute))
        replace_neuron_layer(model, name, fresh)


@dataclass(frozen=True)
class LayerRow:
    """One neuron layer as `[layers]` leaves it (`cfsnn recipes show`).

    Attributes:
        layer: the module path.
        neuron: the neuron kind.
        surrogate: the surrogate kind.
        entries: the `[layers]` entries that match it (none: it takes `[neuron]` and `[surrogate]`).
        differs: the fields ("neuron.threshold") whose value differs from the recipe's sections.
    """

    layer: str
    neuron: str
    surrogate: str
    entries: tuple[str, ...]
    differs: dict[str, Any]


def layer_rows(recipe: Recipe) -> list[LayerRow]:
    """Every neuron layer of the recipe's model (built on the meta device) with the settings it takes.

    Raises:
        CfsnnError: as `apply_layer_settings`.
    """
    from cfsnn_cli.engine.build import build_on_meta_device  # build imports this module

    names = [name for name, _ in named_neuron_layers(build_on_meta_device(recipe))]
    settings = resolve_layers(recipe, names)
    rows = []
    for name in names:
        setting = settings.get(name)
        neuron, surrogate = (setting.neuron, setting.surrogate) if setting else (recipe.neuron, recipe.surrogate)
        entries, differs = (setting.entries, setting.differences(recipe)) if setting else ((), {})
        rows.append(LayerRow(name, neuron.kind, surrogate.kind, entries, differs))
    return rows
