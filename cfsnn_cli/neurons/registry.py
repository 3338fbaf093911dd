from cfsnn_cli.registry import Registry

NEURONS: Registry[type] = Registry("neuron")
"""Neuron classes by recipe `kind` (cf, if, lif, plif); `NEURONS.get(kind)(**options)` builds one layer."""
