"""Typed settings, built once by the entry point and passed down.

Nothing below the entry point reads the environment or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .persona import Persona

NEBIUS_BASE_URL = "https://api.studio.nebius.com/v1/"
DEFAULT_NEBIUS_MODEL = "meta-llama/Llama-3.3-70B-Instruct"

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class SttSettings:
    model: str = "base"
    """Catalog name (``tiny.en``, ``base`` ...) or path to a CTranslate2 Whisper directory."""
    device: Device = "auto"
    compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` picks int8 on CPU and float16 on CUDA."""
    language: str | None = "en"
    """ISO code, or None to let Whisper detect it on every utterance (slower)."""
    beam_size: int = 1
    cpu_threads: int = 0
    """0 lets CTranslate2 decide."""

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


@dataclass(frozen=True)
class TtsSettings:
    voice: str = "en_US-joe-medium"
    """Catalog name of a Piper voice or path to its ``.onnx`` file."""
    speaking_rate: float = 1.0
    """1.0 is the voice's natural pace; 1.2 speaks 20 % faster."""

    def __post_init__(self) -> None:
        if not 0.25 <= self.speaking_rate <= 4.0:
            raise ValueError(f"speaking_rate must be between 0.25 and 4, got {self.speaking_rate}")


@dataclass(frozen=True)
class LlmSettings:
    base_url: str = NEBIUS_BASE_URL
    model: str = DEFAULT_NEBIUS_MODEL
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 15.0
    """Per-request connect timeout and the longest silence tolerated between streamed chunks."""
    max_retries: int = 1
    temperature: float | None = None
    max_completion_tokens: int | None = 400

    @property
    def is_nebius(self) -> bool:
        return "nebius" in self.base_url

    @property
    def needs_api_key(self) -> bool:
        return self.is_nebius

    @property
    def missing_api_key(self) -> bool:
        return self.needs_api_key and not self.api_key


@dataclass(frozen=True)
class TurnSettings:
    """How the assistant decides the user has finished, and how it is interrupted."""

    vad_min_silence_s: float = 0.55
    """Silence that closes a speech segment (Silero)."""
    vad_activation_threshold: float = 0.5
    min_endpointing_delay_s: float = 0.0
    """Extra wait after the VAD's end of speech before the turn is committed."""
    max_endpointing_delay_s: float = 3.0
    min_interruption_s: float = 0.5
    """User speech needed to interrupt the assistant."""
    false_interruption_timeout_s: float | None = 2.0
    """Silence after an interruption that makes it false (the assistant resumes); None disables."""
    aec_warmup_s: float = 0.0
    """Seconds at the start of each reply during which barge-in is ignored (echo guard)."""
    preemptive_generation: bool = True


@dataclass(frozen=True)
class ModelSettings:
    """Where speech models live and how they are fetched."""

    dir: str | None = None
    """Directory of installed models; None means the per-user cache."""
    mirror_url: str = "https://huggingface.co"
    """Base URL in the Hugging Face layout {base}/{repo}/resolve/{revision}/{file}."""
    offline: bool = False
    """Never download; only models already on disk are used."""
    vram_budget_mb: int = 4500
    """GPU memory the speech models may take; the default leaves room for the app on a 6 GB card."""


@dataclass(frozen=True)
class Settings:
    stt: SttSettings = field(default_factory=SttSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    persona: Persona = field(default_factory=Persona)
    models: ModelSettings = field(default_factory=ModelSettings)
