"""Models by recipe `kind`. Each builder takes the per-step input shape, the number of classes and
a `neuron()` factory (a fresh neuron layer per call), and returns a module mapping x_seq
[T, B, ...] to per-step logits [T, B, K]."""

# Importing a module registers its kinds.
from cfsnn_cli.models import resnet, sdt, small, spikformer, vgg  # noqa: F401 (importing a family registers its models)
from cfsnn_cli.models.registry import MODELS

__all__ = ["MODELS"]
