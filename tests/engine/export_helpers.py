"""Shared by the export tests: models whose batch norms hold statistics of their own, and inputs
that keep every membrane potential away from a spike boundary (where float round-off could flip a
spike between two correct implementations)."""

import torch

from cfsnn_cli.engine.step import neuron_layers, run_steps
from cfsnn_cli.models import MODELS
from cfsnn_cli.neurons import build_neuron

MARGIN = 1e-4  # every H/θ stays at least this far from a spike-count boundary


def model_with_statistics(kind: str, input_shape, neuron_kind: str, neuron_options: dict, **options) -> torch.nn.Module:
    """A zoo model in eval mode, its batch norms given random running statistics and affine terms."""
    torch.manual_seed(0)
    model = MODELS.get(kind)(
        input_shape=input_shape,
        num_classes=5,
        neuron=lambda: build_neuron(neuron_kind, **neuron_options),
        **options,
    )
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.3)
    return model.eval()


def margin_of(model: torch.nn.Module, x_seq: torch.Tensor, exact: frozenset[str] = frozenset()) -> float:
    """The smallest distance of H/θ from a spike-count boundary over every layer, step and neuron,
    but those named in `exact` (see `inputs_away_from_threshold`)."""
    distances = []
    names = {id(module): name for name, module in model.named_modules()}
    layers = [layer for layer in neuron_layers(model) if names[id(layer)] not in exact]
    for layer in layers:
        original = layer.fire_and_reset

        def recording(h, layer=layer, original=original):
            ratio, rule = h / layer.threshold_value(), layer.rule
            boundaries = range(-rule.levels if rule.bipolar else 1, rule.levels + 1)
            distances.extend((ratio - k).abs().min().item() for k in boundaries if k != 0)
            return original(h)

        layer.fire_and_reset = recording
    try:
        with torch.no_grad():
            run_steps(model, x_seq)
    finally:
        for layer in layers:
            del layer.fire_and_reset
    return min(distances)


def inputs_away_from_threshold(
    models, steps: int, batch: int, shape, scale: float = 3.0, exact: frozenset[str] = frozenset()
) -> torch.Tensor:
    """The first seeded uniform input in [0, scale) that keeps every model's potentials MARGIN away.

    `exact` names neuron layers left out of the check: those whose potentials every runtime
    computes without rounding (a spike × spike product in, β and θ powers of two), where a value on
    a boundary fires the same everywhere and integer inputs sit on one by design."""
    models = models if isinstance(models, list | tuple) else [models]
    for seed in range(50):
        x_seq = torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) * scale
        if all(margin_of(model, x_seq, exact) > MARGIN for model in models):
            return x_seq
    raise AssertionError("no input kept away from the threshold")
