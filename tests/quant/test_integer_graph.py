"""What the integer path takes and refuses: every model family is either read as an integer graph
or refused in one line while its recipe is read, and the steps it calibrates are what
quant/steps.py promises (weights filling their range, a residual sum's shortcut multiplied by an
integer, one unit for every class of the readout)."""

import numpy as np
import pytest
import torch

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.quant.bounds import check_exact_in_float32
from cfsnn_cli.quant.prepare import calibrate
from cfsnn_cli.quant.settings import Quantization
from cfsnn_cli.quant.synapse import largest_integer
from cfsnn_cli.recipe import load_recipe
from tests.quant.integer_helpers import DIGITS_SHAPE, program_of, quantised_model


@pytest.mark.parametrize(
    ("recipe", "overrides", "words"),
    [
        ("sequential-digits", [], "recurrent layer"),
        ("spikformer-digits", [], "SpikingTransformer"),
        ("quickstart", ["model.kind=rsnn"], "recurrent layer"),
        ("quickstart", ["model.dropout=0.2"], "dropout"),
    ],
)
def test_a_model_the_integer_path_lacks_is_refused_when_the_recipe_is_read(recipe, overrides, words):
    with pytest.raises(CfsnnError) as refused:
        load_recipe(recipe, [*overrides, "quantize.enabled=true"])
    assert refused.value.field == "model" and words in refused.value.problem
    assert "integer path cannot run this model" in refused.value.problem


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [("weight_bits", 1, "2"), ("weight_bits", 9, "8"), ("membrane_bits", 64, "32"), ("leak_rounding", '"up"', "floor")],
)
def test_a_quantisation_setting_out_of_range_is_refused_naming_its_field(field, value, bound):
    with pytest.raises(CfsnnError) as refused:
        load_recipe("quickstart", [f"quantize.{field}={value}"])
    assert refused.value.field == f"quantize.{field}" and bound in refused.value.problem


@pytest.mark.parametrize(
    ("recipe", "kind"),
    [
        ("quickstart", "mlp"),
        ("digits-events", "convnet"),
        ("cifar10", "resnet20"),
        ("cifar10", "resnet19"),
        ("cifar10", "vggsnn"),
        ("cifar10", "sew_resnet18"),
    ],
)
def test_the_families_it_takes_build_quantised_when_the_recipe_is_read(recipe, kind):
    """Read with [quantize] on, the recipe's model is built quantised on the meta device: every
    operation of the chains and the residual families has its integer form."""
    assert load_recipe(recipe, ["quantize.enabled=true", f"model.kind={kind}"]).quantize.enabled


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize(("kind", "bits"), [("convnet", 8), ("mlp", 3)])
def test_calibrated_weights_fill_their_range(kind, per_channel, bits):
    settings = Quantization(weight_bits=bits, per_channel=per_channel)
    program = program_of(quantised_model(kind, "cf1", settings), settings)
    limit = largest_integer(bits)
    summed = {source for op in program.ops if op["op"] == "add" for source in op["in"]}
    checked = 0
    for index, op in enumerate(program.ops):
        if op["op"] not in ("conv", "linear"):
            continue
        largest = torch.from_numpy(program.tensors[op["weight"]].astype("int64")).abs().flatten(1).amax(1)
        assert int(largest.max()) <= limit
        if index in summed:  # a residual sum's convs share a unit, which the larger of them fills
            continue
        checked += 1
        if op is program.ops[-1] or not per_channel:
            assert int(largest.max()) == limit  # one step for the layer: its largest weight sets it
        else:
            assert (largest == limit).all()  # each channel's own step
    assert checked >= 2


def test_a_residual_sum_multiplies_its_shortcut_by_integers_and_the_readout_has_one_unit():
    settings = Quantization()
    program = program_of(quantised_model("resnet20", "cf3", settings), settings)
    factors = [program.tensors[name] for op in program.ops if op["op"] == "add" for name in op["multipliers"] if name]
    assert factors and all(f.dtype.kind == "i" and f.min() >= 1 for f in factors)
    assert [op["op"] for op in program.ops][-4:] == ["neuron", "globalsum", "flatten", "linear"]
    assert isinstance(program.output_unit, float) and program.output_unit > 0


def test_bfloat16_training_is_refused_for_a_quantised_model():
    with pytest.raises(CfsnnError) as refused:
        load_recipe("quickstart", ["quantize.enabled=true", 'train.precision="bf16"'])
    assert refused.value.field == "train.precision" and "fp32" in refused.value.problem


def test_calibration_on_an_all_zero_batch_is_refused():
    settings = Quantization()
    with pytest.raises(CfsnnError) as refused:
        calibrate(quantised_model("mlp", "cf1", settings), torch.zeros(4, *DIGITS_SHAPE), settings)
    assert refused.value.field == "data" and "all zeros" in refused.value.problem


def test_an_accumulator_float32_cannot_hold_is_refused_at_export():
    """The digits MLP's first layer is within float32's exact range; the same layer with every
    weight at 127 over an input eight times as wide (127 · 127 · 512 > 2^22) is not."""
    settings = Quantization()
    model = quantised_model("mlp", "cf1", settings)
    program = program_of(model, settings)
    check_exact_in_float32(program)  # the digits MLP: fine
    first = next(op for op in program.ops if op["op"] == "linear")
    program.input_shape, program.tensors[first["weight"]] = [1, 8, 8 * 8], np.full((48, 512), 127, np.int8)
    with pytest.raises(CfsnnError, match="more than float32 training holds exactly"):
        check_exact_in_float32(program)
