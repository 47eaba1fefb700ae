"""Stand-in for ``livekit.local_inference`` in the frozen sidecar (installers/stubs/README.md).

LiveKit Agents imports it when it loads, for its own VAD and end-of-turn model; the sidecar uses
Silero through ``livekit-plugins-silero`` and VAD turn detection, so neither is ever built.
The constants mirror the native module's (``_native.pyi`` of livekit-local-inference).
"""

from typing import Any, NoReturn

VAD_WINDOW_SAMPLES = 512
EOT_MAX_SAMPLES = 19_200

MESSAGE = (
    "LiveKit's local inference models are not part of the voice sidecar's bundle: "
    "it uses Silero VAD and VAD turn detection"
)


class _Unavailable:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{MESSAGE} ({type(self).__name__} was created)")


class VAD(_Unavailable):
    def predict(self, pcm: Any) -> NoReturn:
        raise RuntimeError(MESSAGE)


class EOT(_Unavailable):
    def predict(self, pcm: Any) -> NoReturn:
        raise RuntimeError(MESSAGE)


def init_vad(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError(MESSAGE)


def init_eot(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError(MESSAGE)
