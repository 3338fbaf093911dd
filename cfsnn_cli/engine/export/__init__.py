"""`cfsnn export`: a checkpoint, loaded through `load_model` like every command that reads one,
written as a safetensors inference bundle, an ONNX graph or a NIR graph, or, for a model trained
with `[quantize]`, as an integer bundle or an integer ONNX graph (docs/export.md, docs/deploy.md)."""

import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.limits import MAX_TIMESTEPS

if TYPE_CHECKING:  # torch is imported by export_checkpoint alone: the command checks its options without it
    from cfsnn_cli.engine.model_file import ModelCheckpoint

FORMATS = ("safetensors", "onnx", "nir", "integer", "integer-onnx")
ONNX_FORMATS = ("onnx", "integer-onnx")
ONNX_MODES = ("step", "unrolled")
OPSETS = (18, 23)  # the torch.export-based exporter writes opset 18 and later
DEFAULT_OPSET = 18
EXTRAS = {"onnx": ("onnx", "onnxscript"), "nir": ("nir",), "integer-onnx": ("onnx",)}


@dataclass
class ExportResult:
    """What `export_checkpoint` wrote."""

    path: Path
    format: str
    size_bytes: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def require_extra(fmt: str) -> None:
    """A CfsnnError naming the pip extra when a package the format needs is not installed."""
    missing = [name for name in EXTRAS.get(fmt, ()) if importlib.util.find_spec(name) is None]
    if missing:
        extra = "onnx" if fmt in ONNX_FORMATS else fmt
        raise CfsnnError("fmt", f'{fmt} export needs {", ".join(missing)}, not installed: pip install "cfsnn[{extra}]"')


def check_export_options(fmt: str, timesteps: int | None, onnx_mode: str, opset: int | None) -> None:
    """Refuse an impossible combination of options before anything is read or written."""
    if fmt not in FORMATS:
        raise CfsnnError("fmt", f"must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if onnx_mode not in ONNX_MODES:
        raise CfsnnError("onnx_mode", f"must be one of {', '.join(ONNX_MODES)} (got {onnx_mode!r})")
    if timesteps is not None:
        if not 1 <= timesteps <= MAX_TIMESTEPS:
            raise CfsnnError("timesteps", f"must be between 1 and {MAX_TIMESTEPS} (got {timesteps})")
        if fmt not in ONNX_FORMATS or onnx_mode != "unrolled":
            raise CfsnnError(
                "timesteps", "only an ONNX format with `onnx_mode=unrolled` has a fixed T; the rest run any T"
            )
    if opset is not None:
        if fmt not in ONNX_FORMATS:
            raise CfsnnError("opset", "applies to the ONNX formats only")
        if not OPSETS[0] <= opset <= OPSETS[1]:
            raise CfsnnError("opset", f"must be between {OPSETS[0]} and {OPSETS[1]} (got {opset})")
    require_extra(fmt)


def export_checkpoint(
    ckpt: Path,
    fmt: str,
    out: Path,
    timesteps: int | None = None,
    onnx_mode: str = "step",
    opset: int | None = None,
) -> tuple["ModelCheckpoint", ExportResult]:
    """Open `ckpt` (`open_checkpoint`) and write its model to `out` in format `fmt`, atomically.

    Args:
        ckpt: a checkpoint, inference bundle or run folder.
        fmt: "safetensors" (folded inference bundle), "onnx", "nir", or for a quantised model
            "integer" (integer bundle) or "integer-onnx".
        out: the file to write; nothing is left there if the export fails.
        timesteps: T of an unrolled ONNX graph (default: the recipe's data.timesteps).
        onnx_mode: "step" (one step, membranes as inputs and outputs) or "unrolled" (fixed T).
        opset: the ONNX opset (default 18).

    Raises:
        CfsnnError: a bad option, a missing extra, a checkpoint that is not cfsnn's, a model the
            format cannot express, a float model exported as integers.
    """
    import torch

    from cfsnn_cli.engine.load import open_checkpoint

    check_export_options(fmt, timesteps, onnx_mode, opset)
    opened = open_checkpoint(ckpt, device=torch.device("cpu"))
    checkpoint, model = opened.checkpoint, opened.model
    if fmt in ("onnx", "nir") and checkpoint.recipe.quantize.enabled:
        raise CfsnnError(
            "fmt",
            f"{checkpoint.path} is a quantised model: export it as `fmt=integer` or `fmt=integer-onnx` "
            "(a float graph would not round as it was trained)",
        )
    started = time.perf_counter()
    # what the ONNX formats write beside the graph (the integer bundle passes them on unused)
    steps, opset = timesteps or checkpoint.recipe.data.timesteps, opset or DEFAULT_OPSET
    metadata = {
        "cfsnn_recipe": checkpoint.recipe.to_json(),
        "cfsnn_class_names": json.dumps(checkpoint.class_names),
        "cfsnn_input_shape": json.dumps(list(checkpoint.input_shape)),
    }
    if fmt == "safetensors":
        from cfsnn_cli.engine.export.bundle import export_bundle

        details = export_bundle(checkpoint, model, out)
    elif fmt == "onnx":
        from cfsnn_cli.engine.export.bundle import folded_copy
        from cfsnn_cli.engine.export.onnx import export_onnx

        details = export_onnx(folded_copy(model), checkpoint.input_shape, out, onnx_mode, steps, opset, metadata)
    elif fmt == "nir":
        from cfsnn_cli.engine.export.nir import export_nir

        details = export_nir(checkpoint, model, out)
    else:
        from cfsnn_cli.engine.export.integer import export_integer

        details = export_integer(checkpoint, model, out, fmt, onnx_mode, steps, opset, metadata)
    if fmt in ONNX_FORMATS:
        details |= {"mode": onnx_mode, "opset": opset, **({"timesteps": steps} if onnx_mode == "unrolled" else {})}
    seconds = time.perf_counter() - started
    return checkpoint, ExportResult(Path(out), fmt, Path(out).stat().st_size, seconds, details)
