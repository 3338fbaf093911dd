from cfsnn_cli.registry import Registry
from cfsnn_cli.surrogates.base import Surrogate

SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")
"""Surrogate classes by recipe `kind` (atan, rectangle, sigmoid, triangle)."""
