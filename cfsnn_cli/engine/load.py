"""The one way from a checkpoint to a running model: `eval`, `profile-spikes` and `export` all
call `load_model`, which rebuilds the model through the recipe stored in the checkpoint."""

from pathlib import Path

import torch
from torch import nn

from cfsnn_cli.engine.build import build_model
from cfsnn_cli.engine.folding import apply_folded_structure
from cfsnn_cli.engine.model_file import ModelCheckpoint, load_model_checkpoint, load_weights


def load_model(path: str | Path, device: torch.device | None = None) -> tuple[ModelCheckpoint, nn.Module]:
    """Read a checkpoint and return it with its model, weights loaded, in eval mode.

    Args:
        path: a `.safetensors` checkpoint or inference bundle (`cfsnn export --format
            safetensors`), or a run folder (its model.safetensors).
        device: where to put the model; None: CUDA when torch sees one, else the CPU (never the
            device the checkpoint was trained on: that was another machine's choice).

    Returns:
        The checkpoint (recipe, class names, input shape, metrics) and the model on `device`.

    Raises:
        CfsnnError: the file is missing, unreadable or not a cfsnn checkpoint, or its weights do
            not fit the model its recipe builds.
    """
    checkpoint = load_model_checkpoint(path)
    model = build_model(checkpoint.recipe, checkpoint.input_shape, checkpoint.num_classes)
    if checkpoint.folding:  # an inference bundle: its batch norms live in the weights before them
        apply_folded_structure(model, checkpoint.folding)
    load_weights(model, checkpoint)
    model.to(device if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    return checkpoint, model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))
