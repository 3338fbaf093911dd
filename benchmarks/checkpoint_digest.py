"""What verifying a checkpoint's digest costs: for the shipped recipes with the most parameters, the
time to check the digest alone and to read the checkpoint whole (header, digest, tensors), against
reading its tensors with safetensors and no check.

    python benchmarks/checkpoint_digest.py                    # imagenet, spikformer-cifar100, quickstart
    python benchmarks/checkpoint_digest.py --recipe sdt-cifar10

The files are written to a temporary folder and read from the page cache, as a second read of a
checkpoint is; a first read from disk adds the disk's own time to all three columns alike.
"""

import argparse
import tempfile
from pathlib import Path

import torch
from common import median_seconds
from rich.console import Console
from rich.table import Table
from safetensors.torch import load_file

from cfsnn_cli.engine.build import build_model
from cfsnn_cli.engine.model_file import load_model_checkpoint, save_model
from cfsnn_cli.engine.safetensors_file import read_safetensors, verify_digest
from cfsnn_cli.recipe import load_recipe

# one step's input for each recipe's data kind, without loading the data
INPUTS = {"imagefolder": ((3, 224, 224), 1000), "cifar100": ((3, 32, 32), 100), "digits": ((1, 8, 8), 10)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", action="append", help="shipped recipe (repeatable)")
    args = parser.parse_args()
    recipes = args.recipe or ["imagenet", "spikformer-cifar100", "quickstart"]
    table = Table(title="checkpoint digest: median of 5 reads from the page cache")
    for column in ("recipe", "parameters", "file MB", "digest check ms", "cfsnn read ms", "plain read ms", "ratio"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as folder:
        for name in recipes:
            recipe = load_recipe(name, [])
            shape, classes = INPUTS[recipe.data.kind] if recipe.data.kind in INPUTS else INPUTS["digits"]
            model = build_model(recipe, shape, classes)
            path = Path(folder) / f"{name}.safetensors"
            save_model(path, model, recipe, 1, 0, {}, shape, [str(k) for k in range(classes)])
            _, metadata = read_safetensors(path, "--ckpt", tensors=False)
            check = median_seconds(lambda path=path, metadata=metadata: verify_digest(path, metadata, "--ckpt"), 5)
            whole = median_seconds(lambda path=path: load_model_checkpoint(path), 5)
            plain = median_seconds(lambda path=path: load_file(str(path)), 5)
            table.add_row(
                name,
                f"{sum(p.numel() for p in model.parameters()):,}",
                f"{path.stat().st_size / 1e6:.1f}",
                f"{1e3 * check:.1f}",
                f"{1e3 * whole:.1f}",
                f"{1e3 * plain:.1f}",
                f"{whole / plain:.2f}",
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
