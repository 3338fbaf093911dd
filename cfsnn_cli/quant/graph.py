"""A model read as the graph of operations the integer path knows, one time step at a time; a
model with any other operation is refused with the reason in one line.

Known: conv and linear layers (`synapse`), their folded batch norms gone; neuron layers; k×k
average pooling with stride k (a sum pool in integers), max pooling, global average pooling and
flatten; residual additions (the two wirings of `BasicBlock`); dropout (nothing at inference).
The chains (mlp, convnet, vggsnn) and the residual networks (resnet19, resnet20, sew_resnet18/34)
are such graphs; recurrent layers and the transformers' attention are not (yet).
"""

from dataclasses import dataclass, field

from torch import nn

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models.blocks import BasicBlock, RecurrentSpiking, SequenceDropout, SpikingClassifier, TimeFolded
from cfsnn_cli.neurons.base import SpikingNeuron

OPS = ("input", "synapse", "avgpool", "maxpool", "globalavg", "flatten", "neuron", "add")


@dataclass
class Node:
    """One operation: `op` (one of OPS) on the values made by the nodes `inputs` (their indices)."""

    op: str
    inputs: tuple[int, ...] = ()
    module: nn.Module | None = None
    name: str = ""  # the module's path in the model, for messages and reports


@dataclass
class IntegerGraph:
    """The nodes in the order they run; node i makes value i; the last node's value is the logits."""

    nodes: list[Node] = field(default_factory=list)

    def add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def neurons(self) -> list[Node]:
        return [node for node in self.nodes if node.op == "neuron"]

    def synapses(self) -> list[Node]:
        return [node for node in self.nodes if node.op == "synapse"]


def refusal(problem: str) -> CfsnnError:
    """The one line an unsupported model is refused with."""
    return CfsnnError("model", f"the integer path cannot run this model: {problem}")


def integer_graph(model: nn.Module) -> IntegerGraph:
    """Walk `model` (batch norms folded) into an IntegerGraph, or raise `refusal`."""
    names = {id(module): name for name, module in model.named_modules()}
    graph = IntegerGraph()
    _walk(model, graph.add(Node("input")), graph, names)
    return graph


def _walk(module: nn.Module, value: int, graph: IntegerGraph, names: dict[int, str]) -> int:
    name = names.get(id(module), "")

    def node(op: str, *inputs: int) -> int:
        return graph.add(Node(op, inputs or (value,), module, name))

    if isinstance(module, nn.Sequential):
        for child in module:
            value = _walk(child, value, graph, names)
        return value
    if isinstance(module, TimeFolded):
        return _walk(module.layer, value, graph, names)
    if isinstance(module, SequenceDropout | nn.Dropout) and module.p > 0:
        # it scales the kept spikes by 1/(1 − p), off the integer grid the next layer rounds them to
        raise refusal(f"{name} is a dropout (p = {module.p:g}); train the quantised model without dropout")
    if isinstance(module, SequenceDropout | nn.Dropout | nn.Identity):
        return value
    if isinstance(module, SpikingClassifier):
        return _walk(
            module.head, _walk(module.pool, _walk(module.features, value, graph, names), graph, names), graph, names
        )
    if isinstance(module, BasicBlock):
        return _residual(module, value, graph, names)
    if isinstance(module, RecurrentSpiking):
        raise refusal(f"{name} is a recurrent layer")
    if isinstance(module, SpikingNeuron):
        if module.channel_dim != 2:
            raise refusal(f"{name} is a neuron layer over tokens")
        return node("neuron")
    if isinstance(module, nn.Conv2d | nn.Linear):
        if isinstance(module, nn.Conv2d) and module.padding_mode != "zeros":
            raise refusal(f"{name} pads with {module.padding_mode!r}; the integer conv pads with zeros")
        return node("synapse")
    if isinstance(module, nn.AvgPool2d):
        kernel, stride = pair(module.kernel_size), pair(module.stride or module.kernel_size)
        if kernel != stride or pair(module.padding) != (0, 0) or module.ceil_mode:
            raise refusal(f"{name} is an average pool other than k×k with stride k and no padding")
        return node("avgpool")
    if isinstance(module, nn.MaxPool2d):
        if pair(module.dilation) != (1, 1) or module.ceil_mode:
            raise refusal(f"{name} is a dilated or ceil-mode max pool")
        return node("maxpool")
    if isinstance(module, nn.AdaptiveAvgPool2d):
        if pair(module.output_size) != (1, 1):
            raise refusal(f"{name} pools adaptively to {module.output_size}, not to 1×1")
        return node("globalavg")
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise refusal(f"{name} flattens other dimensions than all but the batch")
        return node("flatten")
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        raise refusal(f"{name} is a batch norm that follows no conv or linear layer, so it cannot be folded")
    raise refusal(
        f"{name or 'the model'} is a {type(module).__name__}, which it has no integer form of (it takes the chains "
        "mlp, convnet and vggsnn, and the residual networks)"
    )


def _residual(block: BasicBlock, value: int, graph: IntegerGraph, names: dict[int, str]) -> int:
    main = _walk(
        block.second, _walk(block.first_neuron, _walk(block.first, value, graph, names), graph, names), graph, names
    )
    if block.wiring == "sew":
        main = _walk(block.out_neuron, main, graph, names)
    shortcut = _walk(block.shortcut, value, graph, names)
    total = graph.add(Node("add", (main, shortcut), block, names.get(id(block), "")))
    return total if block.wiring == "sew" else _walk(block.out_neuron, total, graph, names)


def pair(value) -> tuple[int, int]:
    """An int or a pair of ints (a pooling or conv size) as a pair."""
    return tuple(value) if isinstance(value, tuple | list) else (value, value)
