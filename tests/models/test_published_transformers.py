"""The transformers with their published neurons: a LIF Spikformer whose attention neuron fires at
half the others' threshold, set through `[layers]`, gives the spikes (and surrogate gradients) of
Spikformer's self-attention written as its authors wrote it, on SpikingJelly's LIF nodes."""

import pytest
import torch
from torch import nn

from cfsnn_cli.engine.build import build_model
from cfsnn_cli.models.spikformer import SpikingSelfAttention
from cfsnn_cli.recipe import load_recipe
from tests.peers import peer

sj_neuron = peer("spikingjelly.activation_based.neuron")

SMALL = ["model.depth=1", "model.dim=32", "model.heads=4"]
T, B, N, D, HEADS = 4, 3, 16, 32, 4


def published_lif(threshold: float) -> nn.Module:
    """Spikformer's `MultiStepLIFNode(tau=2.0, detach_reset=True)` (v_threshold 0.5 for attn_lif):
    the input scaled by 1/τ (decay_input), a hard reset to 0, sigmoid surrogate with α = 4."""
    return sj_neuron.LIFNode(tau=2.0, v_threshold=threshold, v_reset=0.0, detach_reset=True, step_mode="m")


class PublishedSelfAttention(nn.Module):
    """Spikformer's SSA forward (model.py, `SSA.forward`) on the weights of one of our blocks: the
    same Linear + BatchNorm layers, published neurons, heads split and the attention computed in
    the published order, (Q Kᵀ)·scale, then · V."""

    def __init__(self, ours: SpikingSelfAttention, heads: int, scale: float):
        super().__init__()
        self.q, self.k, self.v, self.proj = ours.q, ours.k, ours.v, ours.proj
        self.q_lif, self.k_lif, self.v_lif, self.proj_lif = (published_lif(1.0) for _ in range(4))
        self.attn_lif = published_lif(0.5)
        self.heads, self.scale = heads, scale
        self.seen: dict[str, torch.Tensor] = {}

    def split(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch, tokens, width = x.shape
        return x.reshape(steps, batch, tokens, self.heads, width // self.heads).permute(0, 1, 3, 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch, tokens, width = x.shape
        q = self.seen["q"] = self.q_lif(self.q(x))
        k = self.seen["k"] = self.k_lif(self.k(x))
        v = self.seen["v"] = self.v_lif(self.v(x))
        attention = (self.split(q) @ self.split(k).transpose(-2, -1)) * self.scale
        mixed = (attention @ self.split(v)).transpose(2, 3).reshape(steps, batch, tokens, width)
        self.seen["attention"] = self.attn_lif(mixed)
        return self.proj_lif(self.proj(self.seen["attention"]))


def attention_of(recipe_overrides: list[str]) -> SpikingSelfAttention:
    torch.manual_seed(0)
    recipe = load_recipe("spikformer-cifar10-lif", [*SMALL, *recipe_overrides])
    attention = build_model(recipe, (3, 32, 32), 10).double().blocks[0].attention
    with torch.no_grad():  # BatchNorm gains that make each layer fire at a moderate rate
        for norm in (m for m in attention.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
            norm.weight.uniform_(2.0, 4.0)
            norm.bias.uniform_(0.0, 1.5)
    return attention


def spikes_and_input_gradient(module: nn.Module, x: torch.Tensor):
    x = x.clone().requires_grad_()
    out = module(x)
    weights = torch.linspace(-1, 2, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weights).sum().backward()
    return out.detach(), x.grad


def test_lif_spikformer_with_the_attention_override_fires_as_the_published_module():
    ours = attention_of([])
    theirs = PublishedSelfAttention(ours, HEADS, 0.125).double()
    x = torch.randn(T, B, N, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3 + 1
    recorded = {}

    def record(name: str, output: torch.Tensor) -> None:  # None: a hook's value would replace the output
        recorded[name] = output.detach()

    hooks = [
        getattr(ours, name).register_forward_hook(lambda m, i, o, name=name: record(name, o))
        for name in ("q_neuron", "k_neuron", "v_neuron", "attention_neuron")
    ]
    ours_out, ours_grad = spikes_and_input_gradient(ours, x)
    for hook in hooks:
        hook.remove()
    theirs_out, theirs_grad = spikes_and_input_gradient(theirs, x)
    # every layer fires, but not everywhere: a silent or saturated layer would agree whatever its θ
    for name, key in (("q_neuron", "q"), ("k_neuron", "k"), ("v_neuron", "v"), ("attention_neuron", "attention")):
        rate = float(recorded[name].mean())
        assert 0.05 < rate < 0.95, (name, rate)
        assert torch.equal(recorded[name], theirs.seen[key].detach()), name
    assert 0.05 < float(ours_out.mean()) < 0.95
    assert torch.equal(ours_out, theirs_out)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-9, atol=1e-12)


def test_without_the_override_the_attention_neuron_fires_otherwise():
    """The control: one threshold for every layer (the recipe without its entry) is not the
    published module, so the test above could fail."""
    ours = attention_of(["layers.attention.neuron.threshold=2.0"])
    theirs = PublishedSelfAttention(ours, HEADS, 0.125).double()
    x = torch.randn(T, B, N, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3 + 1
    with torch.no_grad():
        assert not torch.equal(ours(x), theirs(x))


@pytest.mark.parametrize(
    "recipe,special,threshold",
    [("spikformer-cifar10-lif", "attention_neuron", 1.0), ("sdt-cifar10-lif", "column_neuron", 1.0)],
)
def test_only_the_attention_neurons_take_the_published_half_threshold(recipe, special, threshold):
    model = build_model(load_recipe(recipe), (3, 32, 32), 10)
    thresholds = {name: layer.threshold for name, layer in model.named_modules() if hasattr(layer, "rule")}
    special_layers = {name for name in thresholds if name.endswith(special)}
    assert len(special_layers) == load_recipe(recipe).model.options()["depth"]
    assert {thresholds[name] for name in special_layers} == {threshold}
    assert {value for name, value in thresholds.items() if name not in special_layers} == {2.0}
