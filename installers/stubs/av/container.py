"""Stand-in for PyAV's ``av.container`` in the frozen sidecar (installers/stubs/README.md)."""

from typing import NoReturn

from . import MESSAGE


def __getattr__(name: str) -> NoReturn:
    raise ImportError(f"{MESSAGE} (av.container.{name} was used)")
