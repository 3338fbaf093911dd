"""Inference time per sample of an exported model against PyTorch, side by side in one process:
the checkpoint's whole-sequence forward, the folded bundle, PyTorch's step loop, and onnxruntime
running the `step` graph in a loop over T and the `unrolled` graph; plus each file's size.

    python benchmarks/export.py --ckpt runs/quickstart           # batch sizes 1 and 360
    python benchmarks/export.py --ckpt runs/quickstart --batch 1 --batch 64

Needs the onnx extra (`pip install "cfsnn[onnx]"`). Ratios are PyTorch sequence ÷ each path
(above 1 = faster than PyTorch's whole-sequence forward).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import median_seconds
from rich.console import Console
from rich.table import Table

from cfsnn_cli.engine.export import export_checkpoint
from cfsnn_cli.engine.load import load_model
from cfsnn_cli.engine.step import initial_states, step_model

CPU = torch.device("cpu")


def onnx_runner(path: Path, x_seq: np.ndarray, mode: str):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same threads PyTorch gets
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if mode == "unrolled":
        return lambda: session.run(None, {inputs[0].name: x_seq})
    batch = x_seq.shape[1]
    outputs = [o.name for o in session.get_outputs()]

    def loop():
        states = {i.name: np.zeros([batch, *i.shape[1:]], np.float32) for i in inputs[1:]}  # V_0 = 0
        for x_t in x_seq:
            results = dict(zip(outputs, session.run(None, {inputs[0].name: x_t, **states}), strict=True))
            states = {name: results[f"{name}_next"] for name in states}

    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a checkpoint or run folder")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes (default: 1 and 360)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(2)
    console = Console()
    checkpoint, model = load_model(args.ckpt, device=CPU)
    timesteps = checkpoint.recipe.data.timesteps
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "bundle": Path(folder) / "model.safetensors",
            "onnx step": Path(folder) / "step.onnx",
            "onnx unrolled": Path(folder) / "unrolled.onnx",
        }
        export_checkpoint(Path(args.ckpt), "safetensors", files["bundle"])
        export_checkpoint(Path(args.ckpt), "onnx", files["onnx step"], onnx_mode="step")
        export_checkpoint(Path(args.ckpt), "onnx", files["onnx unrolled"], timesteps=timesteps, onnx_mode="unrolled")
        sizes = Table(title="file sizes")
        sizes.add_column("file")
        sizes.add_column("bytes", justify="right")
        sizes.add_row("checkpoint", f"{checkpoint.path.stat().st_size:,}")
        for name, path in files.items():
            sizes.add_row(name, f"{path.stat().st_size:,}")
        console.print(sizes)
        _, bundle = load_model(files["bundle"], device=CPU)

        table = Table(title=f"{checkpoint.recipe.name}: inference time per sample, T = {timesteps}, 2 threads")
        for column in ("batch", "path", "µs/sample", "PyTorch seq ÷ path"):
            table.add_column(column, justify="right" if column != "path" else "left")
        for batch in args.batch or [1, 360]:
            x_seq = torch.rand(timesteps, batch, *checkpoint.input_shape)
            x_numpy = x_seq.numpy()

            def step_loop(x_seq=x_seq):
                states = initial_states(model, x_seq[0])
                for x_t in x_seq:
                    _, states = step_model(model, x_t, states)

            runs = {
                "PyTorch sequence": lambda x_seq=x_seq: model(x_seq),
                "PyTorch sequence, bundle": lambda x_seq=x_seq: bundle(x_seq),
                "PyTorch step loop": step_loop,
                "onnxruntime step loop": onnx_runner(files["onnx step"], x_numpy, "step"),
                "onnxruntime unrolled": onnx_runner(files["onnx unrolled"], x_numpy, "unrolled"),
            }
            with torch.no_grad():
                # interleaved rounds, so a busy moment of the machine falls on every path alike
                rounds = {name: [] for name in runs}
                for _ in range(3):
                    for name, run in runs.items():
                        rounds[name].append(median_seconds(run, max(1, args.repeats // 3), CPU))
            seconds = {name: min(times) for name, times in rounds.items()}
            for name, value in seconds.items():
                ratio = seconds["PyTorch sequence"] / value
                table.add_row(str(batch), name, f"{1e6 * value / batch:.1f}", f"{ratio:.2f}")
        console.print(table)


if __name__ == "__main__":
    main()
