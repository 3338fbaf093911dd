"""An integer program behind a model's interface, x_seq [T, B, ...] → logits [T, B, K], computed by
the NumPy integer simulator: what `cfsnn eval` runs on an integer bundle. Its neuron layers are
those of the fake-quantised model rebuilt from the same bundle (under the same names), which it
reports to `observe()` with the simulator's spike counts, so firing rates come out as for any model.
"""

import numpy as np
import torch
from torch import nn

from cfsnn_cli.neurons.observe import LayerObservation, current_observations
from cfsnn_cli.quant.program import IntegerProgram
from cfsnn_cli.quant.simulator import simulate


class SimulatedModel(nn.Module):
    """Args:
    program: the integer program to run.
    rebuilt: the fake-quantised model rebuilt from the same bundle; only its neuron layers are
        used, as the names the simulator's spikes are reported under.
    """

    def __init__(self, program: IntegerProgram, rebuilt: nn.Module):
        super().__init__()
        self.program = program
        for name, child in rebuilt.named_children():  # the same module paths as the rebuilt model
            self.add_module(name, child)
        self.neurons = [self.get_submodule(op["name"]) for op in program.neuron_ops()]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        run = simulate(self.program, x_seq.detach().float().cpu().numpy())
        seen = current_observations()
        if seen is not None:
            empty = torch.zeros(0, dtype=torch.float64)
            for layer, spikes in zip(self.neurons, run.spikes, strict=True):
                events = torch.tensor(float(np.abs(spikes.astype(np.int64)).sum()), dtype=torch.float64)
                seen.layers.append(LayerObservation(layer, empty, empty, 0, events.to(x_seq.device), spikes[0].size))
        logits = torch.from_numpy(run.logits.astype(np.float64) * self.program.output_unit)
        return logits.to(device=x_seq.device, dtype=torch.float32)
