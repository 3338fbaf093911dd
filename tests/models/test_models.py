"""Every registered model, by looping over the registry: per-step logits of the right shape,
gradients everywhere, and one fresh neuron layer per factory call."""

import pytest
import torch

from cfsnn_cli.models import MODELS
from cfsnn_cli.neurons import CFNeuron, SpikingNeuron
from cfsnn_cli.surrogates import build_surrogate

# The smallest input each family is meant for (per-step shape), kept small for a CPU test.
INPUTS = {
    "mlp": (1, 8, 8),
    "rsnn": (8,),
    "convnet": (1, 8, 8),
    "resnet19": (3, 32, 32),
    "resnet20": (3, 32, 32),
    "vgg11": (2, 48, 48),
    "vggsnn": (2, 48, 48),
    "sew_resnet18": (3, 64, 64),
    "sew_resnet34": (3, 64, 64),
    "spikformer": (2, 16, 16),
    "sdt": (2, 16, 16),
}
# Options that shrink a family to a size a CPU test runs in a moment (the defaults are the published sizes).
OPTIONS = {
    "spikformer": {"depth": 1, "dim": 16, "heads": 2, "mlp_ratio": 2.0},
    "sdt": {"depth": 1, "dim": 16, "mlp_ratio": 2.0},
}
T, B, CLASSES = 2, 2, 7


def test_every_model_has_a_test_input():
    assert set(INPUTS) == set(MODELS.kinds())


def fresh_neuron():
    return CFNeuron(surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T))


@pytest.mark.parametrize("kind", MODELS.kinds())
def test_model_maps_sequences_to_per_step_logits_and_trains(kind):
    torch.manual_seed(0)
    model = MODELS.get(kind)(
        input_shape=INPUTS[kind], num_classes=CLASSES, neuron=fresh_neuron, **OPTIONS.get(kind, {})
    )
    x_seq = torch.rand(T, B, *INPUTS[kind])
    logits = model(x_seq)
    assert logits.shape == (T, B, CLASSES)
    logits.sum().backward()
    neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
    assert neurons, "a spiking model without neurons"
    assert len({id(n.surrogate.raw_alpha) for n in neurons}) == len(neurons)  # nothing shared
    first_weight = next(p for p in model.parameters() if p.dim() > 1)
    assert first_weight.grad is not None and first_weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kind,shape,field", [("convnet", (64,), "kind"), ("vggsnn", (2, 8, 8), "kind"), ("convnet", (1, 8, 8), "channels")]
)
def test_models_refuse_inputs_they_cannot_take(kind, shape, field):
    from cfsnn_cli.errors import CfsnnError

    options = {"channels": [4, 4, 4, 4]} if field == "channels" else {}  # four poolings of 8 pixels
    with pytest.raises(CfsnnError) as caught:
        MODELS.get(kind)(input_shape=shape, num_classes=3, neuron=fresh_neuron, **options)
    assert caught.value.field == field


def test_sequence_dropout_shares_one_mask_over_time():
    from cfsnn_cli.models.blocks import SequenceDropout

    dropout = SequenceDropout(0.5)
    y = dropout(torch.ones(6, 4, 32))
    assert torch.equal(y[0] == 0, y[5] == 0) and 0.3 < (y[0] == 0).float().mean() < 0.7
    assert torch.equal(dropout.eval()(torch.ones(6, 4, 32)), torch.ones(6, 4, 32))
