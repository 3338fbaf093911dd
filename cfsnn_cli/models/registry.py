from cfsnn_cli.registry import Registry

MODELS: Registry = Registry("model")
"""Model builder functions by recipe `kind`: (input_shape, num_classes, neuron, **options) → module."""
