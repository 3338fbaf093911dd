"""Learnable quantities that must stay positive are stored raw and read through softplus."""

import math


def inverse_softplus(y: float) -> float:
    """The raw value whose softplus is `y` > 0: log(exp(y) − 1), written to stay finite for large y."""
    return y + math.log(-math.expm1(-y))
