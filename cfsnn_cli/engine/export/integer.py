"""The integer exports of a model trained with `[quantize]`: its integer program (`quant/program.py`)
as an integer bundle (safetensors, with the recipe: `cfsnn eval` runs it in the integer simulator)
or as an integer ONNX graph (`quant/onnx_graph.py`). A float checkpoint is refused: its integers
would be a rounding nobody trained for."""

from pathlib import Path

from torch import nn

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.engine.build import quantization
from cfsnn_cli.engine.model_file import ModelCheckpoint, save_integer_bundle
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.quant.bounds import check_exact_in_float32
from cfsnn_cli.quant.program import IntegerProgram, integer_program


def checkpoint_program(checkpoint: ModelCheckpoint, model: nn.Module) -> IntegerProgram:
    """The checkpoint's integer program: read from an integer bundle, else written from its model.

    Raises:
        CfsnnError: the checkpoint is float, its model has an operation the integer path lacks,
            or an accumulator the fake-quantised model could not hold exactly.
    """
    if not checkpoint.recipe.quantize.enabled:
        raise CfsnnError(
            "ckpt",
            f"{checkpoint.path} is a float model; integers need one trained with quantize.enabled = true "
            f"(fine-tune it quantised: train.init_from = {str(checkpoint.path)!r})",
        )
    program = checkpoint.integer_program
    if program is None:
        program = integer_program(model, checkpoint.input_shape, quantization(checkpoint.recipe))
    check_exact_in_float32(program)
    return program


def export_integer(
    checkpoint: ModelCheckpoint,
    model: nn.Module,
    out: Path,
    fmt: str,
    mode: str,
    timesteps: int,
    opset: int,
    metadata: dict[str, str],
) -> dict:
    """Write `fmt` ("integer" or "integer-onnx") to `out`, atomically; return a summary. `mode`,
    `timesteps`, `opset` and `metadata` (the graph's metadata_props) are the ONNX graph's."""
    program = checkpoint_program(checkpoint, model)
    summary = {
        "operations": len(program.ops),
        "neuron_layers": len(program.neuron_ops()),
        "weight_bits": checkpoint.recipe.quantize.weight_bits,
        "membrane_bits": checkpoint.recipe.quantize.membrane_bits,
    }
    if fmt == "integer":
        save_integer_bundle(out, program, model, checkpoint, {"from": str(checkpoint.path), "epoch": checkpoint.epoch})
        return summary
    from cfsnn_cli.quant.onnx_graph import integer_onnx

    atomic_write_bytes(out, integer_onnx(program, mode, timesteps, opset, metadata))
    return summary
