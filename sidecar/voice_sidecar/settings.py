"""Typed settings, built once by the entry point and passed down.

Every option the sidecar has is a field here, with its documentation in the
field's metadata: the loader (``settings_loader``), ``config show`` and the
README's settings table are all generated from these classes. Nothing below
the entry point reads the environment, the config file or the command line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from .languages import normalise_language
from .persona import DEFAULT_INSTRUCTIONS

NEBIUS_BASE_URL = "https://api.studio.nebius.com/v1/"
DEFAULT_NEBIUS_MODEL = "meta-llama/Llama-3.3-70B-Instruct"

Device = Literal["auto", "cpu", "cuda"]
# CTranslate2's compute types (ctranslate2.get_supported_compute_types names the ones a device
# has); "auto" is ours: int8 on the CPU, float16 on CUDA
COMPUTE_TYPES = (
    "auto",
    "default",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
EndOfTurn = Literal["vad", "text"]


def _language(name: str, code: str) -> str:
    try:
        return normalise_language(code)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def setting(default: Any, doc: str, *, secret: bool = False) -> Any:
    """A settings field: its default, one line of documentation, whether it is a secret.

    Secrets are never read from the config file or the command line, only from
    the environment or the OS keyring, and are masked wherever settings are shown.
    """
    return field(default=default, metadata={"doc": doc, "secret": secret})


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} (got {value:g})")


@dataclass(frozen=True)
class SttSettings:
    model: str = setting(
        "base", "Whisper catalog name (tiny.en, base, small.en ...) or path to a CTranslate2 folder"
    )
    device: Device = setting("auto", "auto uses CUDA when it works, else the CPU")
    compute_type: str = setting(
        "auto", "CTranslate2 compute type; auto: int8 on CPU, float16 on CUDA"
    )
    language: str | None = setting("en", "spoken language code; empty means detect per utterance")
    beam_size: int = setting(
        2,
        "Whisper beam size: 2 made as few errors as 5 on real speech (tiny.en) at about the "
        "CPU time of 1",
    )
    cpu_threads: int = setting(0, "CPU threads for Whisper; 0 lets CTranslate2 decide")
    window_s: float = setting(
        12.0,
        "Whisper's encoder window for a turn that fits in it with 2 s to spare (its own is 30 s): "
        "12 gave the same words on real speech in a quarter of tiny.en's time, and a result "
        "that reads like a loop is redone on 30 (docs/benchmarks.md, issue 14); 30: off",
    )

    def __post_init__(self) -> None:
        if self.compute_type not in COMPUTE_TYPES:
            near = difflib.get_close_matches(self.compute_type, COMPUTE_TYPES, n=2, cutoff=0.5)
            hint = f"did you mean {' or '.join(near)}? " if near else ""
            raise ValueError(
                f"compute_type {self.compute_type!r} is not a CTranslate2 compute type; {hint}"
                f"one of {', '.join(COMPUTE_TYPES)}"
            )
        if self.language:
            object.__setattr__(self, "language", _language("language", self.language))
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1 (got {self.beam_size})")
        if self.cpu_threads < 0:
            raise ValueError(f"cpu_threads must be 0 or more (got {self.cpu_threads})")
        _check_range("window_s", self.window_s, 4.0, 30.0)


@dataclass(frozen=True)
class TtsSettings:
    voice: str = setting("en_US-joe-medium", "Piper voice name or path to its .onnx file")
    speaking_rate: float = setting(1.0, "1.0 is the voice's natural pace; 1.2 is 20 % faster")
    first_clause_min_words: int = setting(
        4,
        "Piper starts each reply on its first clause (cut at , ; : or a dash) once it has "
        "this many words, not on its first sentence; 0: off",
    )

    def __post_init__(self) -> None:
        if not 0.25 <= self.speaking_rate <= 4.0:
            raise ValueError(f"speaking_rate must be between 0.25 and 4 (got {self.speaking_rate})")
        if self.first_clause_min_words < 0:
            raise ValueError(
                f"first_clause_min_words must be 0 or more (got {self.first_clause_min_words})"
            )


@dataclass(frozen=True)
class LlmSettings:
    base_url: str = setting(
        NEBIUS_BASE_URL, "OpenAI-compatible endpoint (Nebius, llama.cpp, Ollama, vLLM ...)"
    )
    model: str = setting(DEFAULT_NEBIUS_MODEL, "model name the endpoint knows")
    api_key: str | None = field(
        default=None,
        repr=False,
        metadata={
            "doc": "key for a non-Nebius endpoint (Nebius: NEBIUS_API_KEY or the keyring)",
            "secret": True,
        },
    )
    timeout_s: float = setting(15.0, "connect timeout, and longest silence between streamed tokens")
    max_retries: int = setting(1, "retries of a failed LLM request before apologising")
    temperature: float | None = setting(None, "sampling temperature; empty keeps the model's")
    max_completion_tokens: int | None = setting(400, "longest reply in tokens; empty: no limit")

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https:// (got {self.base_url!r})"
            )
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive (got {self.timeout_s})")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more (got {self.max_retries})")

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

    end_of_turn: EndOfTurn = setting(
        "vad",
        "vad: the VAD's silence ends the turn; text: after that silence the transcript is "
        "read too, and one ending on a function word ('to', 'and', 'the', 'is'), a comma, "
        "a dash or a filler ('um') waits max_endpointing_delay_s for more speech",
    )
    vad_min_silence_s: float = setting(0.55, "silence that ends the user's turn (Silero VAD)")
    vad_activation_threshold: float = setting(0.5, "Silero speech probability that counts as voice")
    stt_segment_silence_s: float | None = setting(
        0.25,
        "silence after which Whisper starts on the turn so far, while the turn's own "
        "silence runs on; the transcript still waits for the turn's end (see "
        "docs/benchmarks.md); empty: Whisper starts when the turn ends",
    )
    stt_resume_grace_s: float = setting(
        0.15,
        "with stt_segment_silence_s: speech resuming this soon after the turn's silence "
        "still continues the turn (Whisper's delay gave this grace before)",
    )
    min_endpointing_delay_s: float = setting(0.0, "extra wait after the VAD's end of speech")
    max_endpointing_delay_s: float = setting(
        3.0,
        "longest wait before a turn is committed; with end_of_turn = text, the wait after a "
        "transcript that reads unfinished (1.5 measured, docs/benchmarks.md)",
    )
    min_interruption_s: float = setting(
        0.25,
        "user speech needed to interrupt the assistant (0.5: barge-in 0.6 s; 0.25: 0.33 s, "
        "no false interruptions by desk noises; a cough, a laugh or an 'mm' may pause the "
        "reply, which resumes: see ignore_backchannels)",
    )
    false_interruption_timeout_s: float | None = setting(
        2.0, "silence after a barge-in that makes it false, so the reply resumes; empty: never"
    )
    ignore_backchannels: bool = setting(
        True,
        "a transcript that is only 'mm-hm', 'yeah', 'okay', a laugh or no words (a cough) "
        "does not end a reply: it resumes at once (docs/benchmarks.md, issue 14)",
    )
    aec_warmup_s: float = setting(
        0.0, "seconds at the start of each reply when barge-in is ignored"
    )
    preemptive_generation: bool = setting(True, "start the LLM before the turn is committed")
    stt_preflight: bool = setting(
        True,
        "with stt_segment_silence_s: hand the early transcript to the framework as soon as "
        "it is ready, so preemptive generation starts during the turn's silence",
    )
    preemptive_tts: bool = setting(
        True,
        "with preemptive_generation: Piper also speaks the reply before the turn is "
        "committed; the audio is held until then and dropped if the user goes on (-0.1 s "
        "on finished real turns with stt.window_s: docs/benchmarks.md, issue 14)",
    )

    def __post_init__(self) -> None:
        _check_range("vad_min_silence_s", self.vad_min_silence_s, 0.05, 5.0)
        _check_range("vad_activation_threshold", self.vad_activation_threshold, 0.05, 0.95)
        if self.stt_segment_silence_s is not None:
            _check_range("stt_segment_silence_s", self.stt_segment_silence_s, 0.05, 5.0)
        _check_range("stt_resume_grace_s", self.stt_resume_grace_s, 0.0, 2.0)
        _check_range("min_interruption_s", self.min_interruption_s, 0.0, 5.0)
        if self.min_endpointing_delay_s > self.max_endpointing_delay_s:
            raise ValueError("min_endpointing_delay_s must not exceed max_endpointing_delay_s")


@dataclass(frozen=True)
class PersonaSettings:
    """The persona a session uses when the desktop app sends none."""

    name: str = setting("Assistant", "the assistant's name")
    instructions: str = setting(DEFAULT_INSTRUCTIONS, "system prompt")
    voice: str | None = setting(None, "Piper voice for this persona; empty: tts.voice")
    language: str = setting("en", "language the persona speaks")

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", _language("language", self.language))


@dataclass(frozen=True)
class ModelSettings:
    """Where speech models live and how they are fetched."""

    dir: str | None = setting(None, "folder of installed models; empty: the per-user cache")
    mirror_url: str = setting(
        "https://huggingface.co", "base URL in the Hugging Face layout {base}/{repo}/resolve/..."
    )
    offline: bool = setting(False, "never download; use only models already on disk")
    vram_budget_mb: int = setting(
        4500, "GPU memory the speech models may use (leaves room for the app on a 6 GB card)"
    )


@dataclass(frozen=True)
class PortSettings:
    """Loopback ports of the voice stack (all bind 127.0.0.1)."""

    livekit_http: int = setting(7880, "livekit-server signalling (HTTP and WebSocket)")
    livekit_rtc_tcp: int = setting(
        7881,
        "livekit-server WebRTC over TCP, Docker Compose only ('up' opens none: the server "
        "would listen on every interface for it)",
    )
    livekit_rtc_udp: int = setting(7882, "livekit-server WebRTC over UDP (a single port)")
    agent_health: int = setting(8081, "agent worker health endpoint")
    control_api: int = setting(0, "control API for the desktop app; 0 picks a free port")

    def __post_init__(self) -> None:
        for name in ("livekit_http", "livekit_rtc_tcp", "livekit_rtc_udp", "agent_health"):
            value = getattr(self, name)
            if not 1 <= value <= 65535:
                raise ValueError(f"{name} must be a port between 1 and 65535 (got {value})")
        if not 0 <= self.control_api <= 65535:
            raise ValueError(f"control_api must be 0 or a port (got {self.control_api})")


@dataclass(frozen=True)
class WorkerSettings:
    """The agent worker's share of conversations (what it tells livekit-server it can take)."""

    max_conversations: int = setting(
        0,
        "open conversations one worker takes before livekit-server must send new ones elsewhere; "
        "0: no limit (the desktop, whose one user is always served)",
    )
    drain_timeout_s: float = setting(
        600.0,
        "as a service (not under 'up'): after SIGTERM, how long the worker finishes its open "
        "conversations, taking no new one, before it stops anyway",
    )

    def __post_init__(self) -> None:
        if self.max_conversations < 0:
            raise ValueError(f"max_conversations must be 0 or more (got {self.max_conversations})")
        if self.drain_timeout_s < 0:
            raise ValueError(f"drain_timeout_s must be 0 or more (got {self.drain_timeout_s})")


@dataclass(frozen=True)
class LoggingSettings:
    level: LogLevel = setting("warning", "debug, info, warning or error")
    file: str | None = setting(None, "also write the log to this file")
    format: LogFormat = setting(
        "text", "text, or json: one JSON object a line on stderr (for a log collector)"
    )


@dataclass(frozen=True)
class Settings:
    stt: SttSettings = field(default_factory=SttSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    persona: PersonaSettings = field(default_factory=PersonaSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    ports: PortSettings = field(default_factory=PortSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
