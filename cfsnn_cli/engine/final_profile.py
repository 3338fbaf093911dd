"""What a trained model costs, recorded beside its accuracy: the final epoch's test split profiled
once (engine/profile.py) and its totals put in that epoch's metrics.jsonl line, so that `cfsnn
compare` can weigh accuracy against SynOps and energy without loading a checkpoint."""

import torch
from torch import nn
from torch.utils.data import DataLoader

from cfsnn_cli.engine.distributed import World
from cfsnn_cli.engine.profile import energy_of, profile_model

ENERGY_PRESET = "45nm"  # profile-spikes' default, so that the two figures agree


def profile_totals(model: nn.Module, loader: DataLoader, world: World, device: torch.device) -> dict[str, float]:
    """Per test sample: `test_synops`, `test_macs` and `test_energy_pj` (E_MAC·MACs + E_AC·SynOps at
    the 45 nm preset), over every process's share of the test split."""
    sums = torch.zeros(3, dtype=torch.float64)
    if len(loader):  # under torchrun a process may be dealt no batch
        profile = profile_model(model, loader)
        sums += torch.tensor([profile.synops, profile.macs, 1.0], dtype=torch.float64) * profile.samples
    synops_sum, macs_sum, samples = world.sum(sums.to(device)).tolist()
    synops, macs = synops_sum / samples, macs_sum / samples
    return {"test_synops": synops, "test_macs": macs, "test_energy_pj": energy_of(macs, synops, ENERGY_PRESET).total_pj}
