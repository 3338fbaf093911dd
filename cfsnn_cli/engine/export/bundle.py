"""The safetensors inference bundle: the checkpoint's model with batch norm folded, readable by
`load_model` (so by `cfsnn eval` and `cfsnn profile-spikes`) like any checkpoint."""

import copy
from pathlib import Path

import torch
from torch import nn

from cfsnn_cli.engine.model_file import ModelCheckpoint, save_inference_bundle
from cfsnn_cli.models.folding import fold_batch_norm


def folded_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with its batch norms folded; the ONNX and NIR graphs use it too."""
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        fold_batch_norm(folded)
    return folded


def export_bundle(checkpoint: ModelCheckpoint, model: nn.Module, path: Path) -> dict:
    """Fold a copy of `model`'s batch norms and write it with the checkpoint's metadata to `path`.

    Returns:
        A summary: the folding, and the parameter count before and after.
    """
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        folding = checkpoint.folding + fold_batch_norm(folded)  # a bundle of a bundle keeps its folding
    exported = {"from": str(checkpoint.path), "epoch": checkpoint.epoch, "batch_norm_folded": len(folding)}
    save_inference_bundle(path, folded, checkpoint, folding, exported)
    return {
        "batch_norm_folded": len(folding),
        "tensors_before": len(model.state_dict()),
        "tensors_after": len(folded.state_dict()),
    }
