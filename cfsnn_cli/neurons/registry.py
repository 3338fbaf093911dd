from cfsnn_cli.registry import Registry

NEURONS: Registry[type] = Registry("neuron")
