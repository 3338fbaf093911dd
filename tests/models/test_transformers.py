"""Spikformer and the Spike-driven Transformer: published parameter counts, spike tensors (never
real values) into every product of the attention, per-feature membrane statistics on tokens, the
position embedding kept out of weight decay, and BatchNorm over tokens folding exactly."""

import pytest
import torch

from cfsnn_cli.engine.build import no_weight_decay_names, parameter_groups
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models import MODELS
from cfsnn_cli.models.folding import fold_batch_norm
from cfsnn_cli.models.transformer import HadamardTokenSum, SpikeAttention, SpikeMask
from cfsnn_cli.neurons import CFNeuron, SpikingNeuron, observe
from cfsnn_cli.surrogates import build_surrogate

T, B, LEVELS = 2, 3, 2
TINY = {
    "spikformer": {"depth": 2, "dim": 16, "heads": 2, "mlp_ratio": 2.0},
    "sdt": {"depth": 2, "dim": 16, "mlp_ratio": 2.0},
}


def neuron():
    return CFNeuron(
        levels=LEVELS, threshold=0.5, surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T)
    )


def tiny(kind, input_shape, **options):
    torch.manual_seed(0)
    return MODELS.get(kind)(input_shape=input_shape, num_classes=5, neuron=neuron, **(TINY[kind] | options))


def synapse_parameters(kind, input_shape, num_classes, **options) -> int:
    """Parameters without the neurons' own (β, θ, α: a LIF has none), counted on the meta device:
    nothing is allocated and nothing runs."""
    with torch.device("meta"):
        model = MODELS.get(kind)(input_shape=input_shape, num_classes=num_classes, neuron=CFNeuron, **options)
    own = {id(p) for m in model.modules() if isinstance(m, SpikingNeuron) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in own)


@pytest.mark.parametrize(
    "kind,input_shape,classes,options,published",
    [
        # Zhou et al. 2023, Tables 1-3
        ("spikformer", (3, 32, 32), 10, {"depth": 4, "dim": 384, "heads": 12, "qkv_bias": True}, 9.32e6),
        ("spikformer", (3, 224, 224), 1000, {"depth": 8, "dim": 384, "heads": 12, "patch_size": 16}, 16.81e6),
        ("spikformer", (3, 224, 224), 1000, {"depth": 8, "dim": 512, "heads": 8, "patch_size": 16}, 29.68e6),
        ("spikformer", (2, 128, 128), 10, {"depth": 2, "dim": 256, "heads": 16, "patch_size": 16}, 2.57e6),
        # Yao et al. 2023, Tables 1-2
        ("sdt", (3, 32, 32), 10, {"depth": 2, "dim": 512}, 10.28e6),
        ("sdt", (3, 224, 224), 1000, {"depth": 8, "dim": 384, "patch_size": 16}, 16.81e6),
    ],
)
def test_standard_sizes_have_the_published_parameter_counts(kind, input_shape, classes, options, published):
    assert synapse_parameters(kind, input_shape, classes, **options) == pytest.approx(published, rel=0.02)


def _integers_within(tensor, bound) -> bool:
    return bool(torch.equal(tensor, tensor.round()) and tensor.abs().max() <= bound)


@pytest.mark.parametrize("kind", ["spikformer", "sdt"])
@pytest.mark.parametrize("input_shape", [(2, 16, 16), (12, 6)], ids=["image", "tokens"])
def test_every_attention_product_takes_spikes(kind, input_shape):
    model = tiny(kind, input_shape).eval()
    seen = []  # (what, tensor): every input of a spike × spike product and of the attention's neuron

    def record(what):
        return lambda module, inputs: seen.extend((what, x.detach()) for x in inputs)

    for name, module in model.named_modules():
        if isinstance(module, SpikeAttention | HadamardTokenSum | SpikeMask):
            module.register_forward_pre_hook(record("product"))
        if name.endswith("attention_neuron") or name.endswith("column_neuron"):
            module.register_forward_pre_hook(record(name.rpartition(".")[2]))
    with torch.no_grad():
        model(4 * torch.randn(T, B, *input_shape))  # large inputs: spikes of every level fire
    products = [x for what, x in seen if what == "product"]
    per_block = 3 if kind == "spikformer" else 4  # (Q, K, V), or (K, V) and (Q, mask)
    assert len(products) == 2 * per_block
    assert all(_integers_within(x, LEVELS) for x in products)
    assert any(x.abs().max() == LEVELS for x in products)  # the test sees multi-level spikes
    tokens = 16 if input_shape == (2, 16, 16) else 12
    for what, x in seen:
        if what == "attention_neuron":  # 0.125 · (Q Kᵀ) V: an integer of at most N·(D/heads)·LEVELS³
            assert _integers_within(x / 0.125, tokens * 8 * LEVELS**3)
        if what == "column_neuron":  # Σ over tokens of K ⊙ V
            assert _integers_within(x, tokens * LEVELS**2) and x.shape[2] == 1


@pytest.mark.parametrize("kind", ["spikformer", "sdt"])
def test_token_neurons_balance_each_feature(kind):
    model = tiny(kind, (2, 16, 16))
    with observe() as seen:
        model(torch.randn(T, B, 2, 16, 16))
    by_name = {name: module for name, module in model.named_modules()}
    q_neuron = by_name["blocks.0.attention.q_neuron" if kind == "spikformer" else "blocks.0.0.q_neuron"]
    (observed,) = [layer for layer in seen.layers if layer.layer is q_neuron]
    assert observed.positive.numel() == 16  # D features, not the N = 16 tokens of dim 2
    assert observed.elements_per_channel == T * B * 16
    stem = [layer for layer in seen.layers if layer.layer is by_name["stem.body.1"]]
    assert stem[0].positive.numel() == 2  # conv maps keep channels on dim 2 (D/8 = 2)


def test_position_embeddings_biases_and_norms_are_not_decayed():
    model = tiny("spikformer", (12, 6))
    assert no_weight_decay_names(model) == {"stem.0.pos_embed"}
    decayed, kept = parameter_groups(model, 0.05)
    decayed_ids = {id(p) for p in decayed["params"]}
    names = dict(model.named_parameters())
    assert id(names["stem.0.pos_embed"]) not in decayed_ids
    assert id(names["blocks.0.attention.proj.layer.0.bias"]) not in decayed_ids
    assert id(names["blocks.0.attention.proj.layer.1.weight"]) not in decayed_ids  # BatchNorm's γ
    assert id(names["blocks.0.attention.q.layer.0.weight"]) in decayed_ids
    assert len(decayed["params"]) + len(kept["params"]) == len(names)


def test_a_misnamed_no_weight_decay_entry_is_a_bug_not_silence():
    model = tiny("spikformer", (12, 6))
    model.no_weight_decay = lambda: {"pos_embedding"}
    with pytest.raises(RuntimeError, match="pos_embedding"):
        parameter_groups(model, 0.05)


@pytest.mark.parametrize("kind", ["spikformer", "sdt"])
def test_token_batch_norm_folds_into_its_linear(kind):
    model = tiny(kind, (2, 16, 16)).eval()
    for module in model.modules():  # running statistics away from the identity
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x_seq = torch.randn(T, B, 2, 16, 16, dtype=torch.float64)
    model = model.double()
    with torch.no_grad():
        before = model(x_seq)
        folding = fold_batch_norm(model)
        after = model(x_seq)
    assert any(entry["into"].endswith("q.layer.0") for entry in folding)
    assert torch.allclose(before, after)


@pytest.mark.parametrize(
    "kind,input_shape,options,field",
    [
        ("spikformer", (64,), {}, "kind"),
        ("spikformer", (2, 16, 16), {"dim": 20, "heads": 2}, "dim"),
        ("spikformer", (2, 16, 16), {"heads": 3}, "heads"),
        ("sdt", (2, 16, 16), {"dim": 12}, "dim"),
    ],
)
def test_transformers_refuse_sizes_they_cannot_take(kind, input_shape, options, field):
    with pytest.raises(CfsnnError) as caught:
        tiny(kind, input_shape, **options)
    assert caught.value.field == field


@pytest.mark.slow  # an epoch of spikformer-digits: about ten seconds on two CPU cores
def test_spikformer_digits_learns_in_one_epoch(tmp_path):
    from cfsnn_cli.engine.run_folder import read_metrics
    from cfsnn_cli.engine.train import train
    from cfsnn_cli.recipe import load_recipe

    train(load_recipe("spikformer-digits", ["train.epochs=1"]), tmp_path / "run")
    [metrics] = read_metrics(tmp_path / "run")
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1


@pytest.mark.parametrize("tokens", [3, 9], ids=["scores-first", "keys-first"])
def test_attention_products_are_charged_by_the_synapse_rule(tokens):
    from cfsnn_cli.engine.synops import spike_product_operations

    generator = torch.Generator().manual_seed(2)
    q, k, v = (torch.randint(-LEVELS, LEVELS + 1, (1, 1, tokens, 8), generator=generator).float() for _ in range(3))
    attention = SpikeAttention(heads=2, scale=0.125)  # heads of 4 features: keys first when N > 4
    synops, dense = spike_product_operations(attention, (q, k, v))
    expected = 0.0
    for h in range(2):
        qh, kh, vh = (x[0, 0, :, 4 * h : 4 * h + 4] for x in (q, k, v))
        if tokens > 4:  # every unit of |K| meeting a unit of |V|, then of |Q| meeting |Kᵀ V|
            expected += float(torch.einsum("nc,ne->", kh.abs(), vh.abs()))
            expected += float(torch.einsum("nc,ce->", qh.abs(), (kh.T @ vh).abs()))
        else:  # |Q| meeting |K|, then the integer scores' |S| meeting |V|
            expected += float(torch.einsum("ic,jc->", qh.abs(), kh.abs()))
            expected += float(torch.einsum("ij,je->", (qh @ kh.T).abs(), vh.abs()))
    assert synops == expected
    assert dense == 2 * 2 * (tokens * 4 * (tokens if tokens <= 4 else 4))


@pytest.mark.parametrize("kind", ["spikformer", "sdt"])
def test_the_profiler_counts_the_attention_products(kind):
    from cfsnn_cli.engine.profile import profile_model

    model = tiny(kind, (2, 16, 16))
    x_seq = torch.randn(T, B, 2, 16, 16, generator=torch.Generator().manual_seed(3))
    profile = profile_model(model, [(x_seq, None)])
    rows = {row.name: row for row in profile.synapses}
    products = ["attention"] if kind == "spikformer" else ["column_sum", "mask"]
    for block in range(2):
        prefix = f"blocks.{block}.attention." if kind == "spikformer" else f"blocks.{block}.0."
        for name in products:
            row = rows[prefix + name]
            assert row.input == "spikes" and row.macs == 0 and 0 < row.synops <= row.dense_macs * LEVELS**3
    assert profile.synops == pytest.approx(sum(row.synops for row in profile.synapses))
