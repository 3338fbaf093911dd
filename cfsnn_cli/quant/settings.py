"""What a recipe's `[quantize]` section asks of a model, as plain values for the quant modules."""

from dataclasses import dataclass

from cfsnn_cli.neurons.fixed_point import FixedPointMembrane


@dataclass(frozen=True)
class Quantization:
    """Args:
    weight_bits: signed bits of every weight, 2 to 8.
    per_channel: one weight step per output channel (else one per layer).
    input_bits: signed bits of the network's input.
    membrane_bits: signed bits of every membrane potential.
    leak_bits: fractional bits of the decay β.
    leak_rounding: how the decay rounds (`neurons.fixed_point.decay`).
    """

    weight_bits: int = 8
    per_channel: bool = True
    input_bits: int = 8
    membrane_bits: int = 24
    leak_bits: int = 12
    leak_rounding: str = "floor"

    @property
    def membrane(self) -> FixedPointMembrane:
        return FixedPointMembrane(self.membrane_bits, self.leak_bits, self.leak_rounding)
