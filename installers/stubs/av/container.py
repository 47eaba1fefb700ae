"""Stand-in for PyAV in the frozen sidecar: importable, unusable (installers/stubs/README.md)."""

from typing import NoReturn

MESSAGE = (
    "PyAV (FFmpeg) is not part of the voice sidecar's bundle: it needs raw PCM audio; "
    "decode compressed audio before passing it in"
)


def __getattr__(name: str) -> NoReturn:
    raise ImportError(f"{MESSAGE} (av.container.{name} was used)")
