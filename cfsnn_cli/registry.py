"""One small registry used by neurons, surrogates, losses, models and datasets.

The registry key is the recipe's ``kind``; an unknown kind is refused with the list of known ones.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

from cfsnn_cli.errors import CfsnnError

T = TypeVar("T")


class Registry(Generic[T]):
    """Builders (classes or functions) by `kind`.

    Args:
        what: what the entries are ("neuron", "dataset", …), for error messages.
    """

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, kind: str) -> Callable[[T], T]:
        """A decorator that files its class or function under `kind` and returns it unchanged."""

        def add(entry: T) -> T:
            if kind in self._entries:
                raise RuntimeError(f"{self.what} kind {kind!r} registered twice")
            self._entries[kind] = entry
            return entry

        return add

    def get(self, kind: str) -> T:
        """The builder of `kind`; a CfsnnError listing the known kinds if there is none."""
        try:
            return self._entries[kind]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise CfsnnError("kind", f"unknown {self.what} {kind!r} (known: {known})") from None

    def kinds(self) -> list[str]:
        """The registered kinds, sorted."""
        return sorted(self._entries)
