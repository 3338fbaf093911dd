"""Batch-norm folding for inference: BN(conv(x)) = conv'(x) with W' = s·W, b' = s·(b − μ) + β,
s = γ/√(σ² + ε), per output channel. Only a BatchNorm that directly follows a Conv2d or Linear in
the same `TimeFolded` (conv → BN in `conv_bn`, Linear → BN in the MLP) is folded; it becomes an
`nn.Identity`, so the folded model keeps every other parameter name of the original.

`load_model` rebuilds a folded bundle through the same builder: the recipe's model, then
`apply_folded_structure` with the folding the bundle records, then the weights.
"""

from itertools import pairwise

from torch import nn

from cfsnn_cli.errors import CfsnnError

FOLDABLE_INTO = (nn.Conv1d, nn.Conv2d, nn.Linear)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _foldable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv or linear name, batch-norm name) for every BN right after a conv/linear in a Sequential."""
    pairs = []
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (before_name, before), (name, child) in pairwise(children):
            if isinstance(child, BATCH_NORMS) and isinstance(before, FOLDABLE_INTO):
                join = f"{prefix}." if prefix else ""
                pairs.append((f"{join}{before_name}", f"{join}{name}"))
    return pairs


def replace_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the submodule `name` (a dotted path) was."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def fold_batch_norm(model: nn.Module) -> list[dict[str, str]]:
    """Fold every foldable BatchNorm of `model` (in eval mode) into the layer before it, in place.

    Returns:
        The folding, one {"batch_norm": name, "into": name} per folded BN, as the bundle records it.
    """
    folding = []
    for into_name, bn_name in _foldable_pairs(model):
        layer = model.get_submodule(into_name)
        bn = model.get_submodule(bn_name)
        scale = bn.weight.detach() / (bn.running_var + bn.eps).sqrt()
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        bias = layer.bias.detach() if layer.bias is not None else bn.running_mean.new_zeros(scale.shape)
        layer.weight = nn.Parameter(layer.weight.detach() * scale.reshape(shape))
        layer.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach())
        replace_submodule(model, bn_name, nn.Identity())
        folding.append({"batch_norm": bn_name, "into": into_name})
    return folding


def apply_folded_structure(model: nn.Module, folding: list[dict[str, str]]) -> None:
    """Make a freshly built model take a folded bundle's weights: each folded BN becomes an
    Identity and the layer it went into gets a bias (its values come with the weights)."""
    try:
        for entry in folding:
            layer = model.get_submodule(entry["into"])
            if not isinstance(model.get_submodule(entry["batch_norm"]), BATCH_NORMS):
                raise KeyError(entry["batch_norm"])
            if layer.bias is None:
                layer.bias = nn.Parameter(layer.weight.new_zeros(layer.weight.shape[0]))
            replace_submodule(model, entry["batch_norm"], nn.Identity())
    except (AttributeError, KeyError, TypeError) as error:
        raise CfsnnError("ckpt", f"the bundle's batch-norm folding does not fit its model ({error})") from None
