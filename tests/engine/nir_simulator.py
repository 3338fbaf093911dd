"""NIR 1.0's equations run directly on a graph read back by `nir.read`: what a cfsnn NIR file
means to any tool that follows the spec, independent of cfsnn's own code."""

import numpy as np
import torch
import torch.nn.functional as F

from tests.peers import peer

nir = peer("nir")


def ints(value) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(value))


def simulate_nir(graph, x_seq: np.ndarray):
    """Run a NIR graph over time from NIR 1.0's equations, forward Euler at each neuron's recorded dt,
    in float64: τ·dv/dt = (v_leak − v) + r·I (LIF), dv/dt = r·I (IF); z = v > v_threshold; on z,
    v ← v_reset. Several edges into one node are summed. In a cycle, a node fed by a neuron that
    has not run yet in this step reads that neuron's spikes of the step before (none before the
    first). Returns the outputs and each neuron's spikes."""
    incoming = {name: [src for src, dst in graph.edges if dst == name] for name in graph.nodes}
    neurons = {name for name, node in graph.nodes.items() if isinstance(node, nir.LIF | nir.IF)}
    order, done = [], {"input"}
    while len(order) < len(graph.nodes) - 1:
        pending = [name for name in graph.nodes if name not in done]
        ready = [name for name in pending if all(src in done for src in incoming[name])]
        if not ready:  # a cycle: start it at the node that reads a neuron's earlier spikes
            ready = [next(name for name in pending if all(src in done | neurons for src in incoming[name]))]
        order += ready
        done |= set(ready)
    membranes, outputs, spikes, before = {}, [], {}, {}
    for x_t in x_seq:
        values = {"input": torch.as_tensor(x_t, dtype=torch.float64)}
        for name in order:
            node = graph.nodes[name]
            i = sum(values[src] if src in values else before.get(src, 0.0) for src in incoming[name])
            p = {
                k: torch.as_tensor(np.asarray(v), dtype=torch.float64)
                for k, v in vars(node).items()
                if k != "metadata" and isinstance(v, np.ndarray)
            }
            if isinstance(node, nir.Affine):
                y = i @ p["weight"].T + p["bias"]
            elif isinstance(node, nir.Linear):
                y = i @ p["weight"].T if torch.is_tensor(i) else 0.0  # 0.0: no spikes before the first step
            elif isinstance(node, nir.Conv2d):
                y = F.conv2d(
                    i,
                    p["weight"],
                    p["bias"],
                    ints(node.stride),
                    ints(node.padding),
                    ints(node.dilation),
                    int(node.groups),
                )
            elif isinstance(node, nir.Flatten):  # dims index the shape without the batch
                y = i.flatten(node.start_dim + 1, node.end_dim if node.end_dim < 0 else node.end_dim + 1)
            elif isinstance(node, nir.AvgPool2d):
                y = F.avg_pool2d(i, ints(node.kernel_size), ints(node.stride), ints(node.padding))
            elif isinstance(node, nir.LIF | nir.IF):
                dt = float(node.metadata["dt"])
                v = membranes.get(name, torch.zeros_like(i))
                if isinstance(node, nir.LIF):
                    v = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * i)
                else:
                    v = v + dt * p["r"] * i
                z = (v > p["v_threshold"]).double()
                membranes[name] = torch.where(z > 0, p["v_reset"].expand_as(v), v)
                spikes.setdefault(name, []).append(z)
                y = z
            elif isinstance(node, nir.Output):
                outputs.append(i)
                continue
            else:
                raise AssertionError(f"the simulator knows no {type(node).__name__}")
            values[name] = y
        before = values
    return torch.stack(outputs), [torch.stack(s) for s in spikes.values()]
