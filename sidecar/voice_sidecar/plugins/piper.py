"""Piper as a LiveKit Agents TTS.

``PiperEngine`` holds the loaded voice and the thread it runs on. Each
``synthesize()`` call pushes audio as Piper yields it (one chunk per sentence
Piper finds in the text) and stops at the next chunk boundary once cancelled,
which is what barge-in does to it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from livekit.agents import APIConnectOptions, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from voice_sidecar.errors import ModelLoadError
from voice_sidecar.log import logger

_DONE = object()


class PiperEngine:
    """A loaded Piper voice and the single thread that runs it."""

    def __init__(self, voice: Any, *, name: str, path: Path) -> None:
        self._voice = voice
        self.name = name
        self.path = path
        self.sample_rate: int = int(voice.config.sample_rate)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")

    @classmethod
    def load(
        cls, onnx_path: Path, *, name: str | None = None, use_cuda: bool = False
    ) -> PiperEngine:
        config_path = Path(f"{onnx_path}.json")
        started = time.perf_counter()
        try:
            json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(
                f"Piper voice config {config_path} is unreadable ({exc}); install the voice again"
            ) from None
        try:
            voice = _load_voice(onnx_path, config_path, use_cuda=use_cuda)
        except Exception as exc:
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise ModelLoadError(
                f"cannot load Piper voice {onnx_path}: {first_line}; the file may be corrupt, "
                "so install the voice again"
            ) from exc
        logger.info(
            "Piper voice %s loaded in %.2fs", name or onnx_path.stem, time.perf_counter() - started
        )
        return cls(voice, name=name or onnx_path.stem, path=onnx_path)

    def synthesize_chunks(
        self,
        text: str,
        *,
        length_scale: float | None,
        stop: threading.Event,
        deterministic: bool = False,
    ) -> Any:
        """Blocking generator of 16-bit PCM bytes, one chunk per sentence.

        Piper draws random noise for intonation and timing, so each call sounds slightly
        different; ``deterministic`` turns that off (the same text gives the same audio).
        """
        from piper import SynthesisConfig

        noise = 0.0 if deterministic else None  # None: the voice's own noise scales
        config = SynthesisConfig(length_scale=length_scale, noise_scale=noise, noise_w_scale=noise)
        for chunk in self._voice.synthesize(text, syn_config=config):
            if stop.is_set():
                return
            yield chunk.audio_int16_bytes

    def warm_up(self) -> None:
        for _ in self.synthesize_chunks("Hello.", length_scale=None, stop=threading.Event()):
            pass

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _load_voice(onnx_path: Path, config_path: Path, *, use_cuda: bool) -> Any:
    """``PiperVoice.load`` with our session options: onnxruntime's memory patterns off.

    A pattern is planned and cached for each input shape, and every sentence has a shape of
    its own: with them on, the voice's memory grew to 340 MB over four replies, without them
    to 295 MB, at the same CPU time per sentence (measured alternating, docs/benchmarks.md,
    "Issue 14: memory"). The arena stays on: without it synthesis took 20 % more CPU.
    """
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    providers: list[Any] = (
        [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})]
        if use_cuda
        else ["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    session = onnxruntime.InferenceSession(
        str(onnx_path), sess_options=options, providers=providers
    )
    return PiperVoice(session=session, config=config, download_dir=Path.cwd())


@dataclass
class _Options:
    speaking_rate: float


class PiperTTS(tts.TTS[Literal["metrics_collected"]]):
    """Non-streaming TTS; the session's ``tts.StreamAdapter`` feeds it sentence by sentence."""

    def __init__(self, *, engine: PiperEngine, speaking_rate: float = 1.0) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=engine.sample_rate,
            num_channels=1,
        )
        self._engine = engine
        self._opts = _Options(speaking_rate=speaking_rate)

    @property
    def model(self) -> str:
        return self._engine.name

    @property
    def provider(self) -> str:
        return "piper"

    @property
    def engine(self) -> PiperEngine:
        return self._engine

    def update_options(self, *, speaking_rate: NotGivenOr[float] = NOT_GIVEN) -> None:
        if utils.is_given(speaking_rate):
            self._opts = replace(self._opts, speaking_rate=speaking_rate)

    def prewarm(self) -> None:
        self._engine.executor.submit(self._engine.warm_up)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> PiperChunkedStream:
        return PiperChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class PiperChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._piper = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        engine = self._piper.engine
        length_scale = 1.0 / self._piper._opts.speaking_rate
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for pcm in engine.synthesize_chunks(
                    self.input_text, length_scale=length_scale, stop=stop
                ):
                    loop.call_soon_threadsafe(queue.put_nowait, pcm)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the event loop
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=engine.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        worker = loop.run_in_executor(engine.executor, produce)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                output_emitter.push(item)
            output_emitter.flush()
        finally:
            stop.set()
            if not worker.done():
                # let the sentence in flight finish on its thread; nobody waits for it
                worker.add_done_callback(lambda _: None)
