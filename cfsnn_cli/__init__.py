"""cfsnn: spiking neural networks with circulate-firing neurons, time-step-wise learnable
surrogate gradients and a positive-negative balanced loss."""

__version__ = "0.1.0"
