"""`cfsnn export`: write a checkpoint as a safetensors inference bundle, an ONNX graph or a NIR graph."""

from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.cli.common_options import CheckpointOption


def export(
    ckpt: CheckpointOption,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="safetensors (inference bundle, batch norm folded), onnx or nir; for a model trained with "
            "[quantize]: integer (integer bundle, run by the integer simulator) or integer-onnx.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="The file to write.", show_default=False)],
    timesteps: Annotated[
        int | None,
        typer.Option(
            "--timesteps",
            help="T of the unrolled ONNX graph (default: the recipe's data.timesteps).",
            show_default=False,
        ),
    ] = None,
    onnx_mode: Annotated[
        str,
        typer.Option(
            "--onnx-mode",
            help="step: one time step, membrane potentials as inputs and outputs (any T); "
            "unrolled: the whole sequence for a fixed T.",
        ),
    ] = "step",
    opset: Annotated[
        int | None, typer.Option("--opset", help="The ONNX opset version (default 18).", show_default=False)
    ] = None,
) -> None:
    """Export a trained model for inference elsewhere: PyTorch, ONNX runtimes or neuromorphic hardware (NIR)."""
    from cfsnn_cli.cli.console import console
    from cfsnn_cli.cli.output_paths import NIR_FILE, ONNX_FILE, SAFETENSORS_FILE, Output, check_outputs
    from cfsnn_cli.engine.export import check_export_options, export_checkpoint
    from cfsnn_cli.engine.run_folder import resolve_checkpoint

    check_export_options(fmt, timesteps, onnx_mode, opset)
    kinds = {"safetensors": SAFETENSORS_FILE, "onnx": ONNX_FILE, "nir": NIR_FILE, "integer": SAFETENSORS_FILE}
    kind = (kinds | {"integer-onnx": ONNX_FILE})[fmt]  # --format is checked
    out = check_outputs({"--out": Output(out, kind)}, reads=[resolve_checkpoint(ckpt)])["--out"]
    checkpoint, result = export_checkpoint(ckpt, fmt, out, timesteps=timesteps, onnx_mode=onnx_mode, opset=opset)
    details = ", ".join(f"{key} {value}" for key, value in result.details.items() if not isinstance(value, list))
    console.print(
        f"wrote {result.path} ({result.format}, {result.size_bytes:,} bytes, {result.seconds:.1f} s) "
        f"from {checkpoint.path}: {details}",
        highlight=False,
        soft_wrap=True,
    )
