"""A real Chromium in the voice room, for tests: the dev page, built and served, driven by
``desktop-integration/e2e/driver.mjs`` (playwright-core) over JSON lines.

The browser is Debian's ``chromium`` (never one Playwright downloads). Its microphone is
Chromium's fake capture device playing a WAV file; see README, "The browser tests".
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from .livekit_fixtures import free_ports, real_livekit_server
from .up_support import UpProcess, home_env, start_up, up_env

ROOT = Path(__file__).resolve().parent.parent
DESKTOP = ROOT / "desktop-integration"
DRIVER = DESKTOP / "e2e" / "driver.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))

# .ci/run sets it after installing Chromium and the npm packages: there a missing piece
# fails the browser tests instead of skipping them
REQUIRED = os.environ.get("VOICE_SIDECAR_BROWSER_TESTS") == "required"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "no node on PATH (the browser is driven by playwright-core)"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_BIN)"
    if not (DESKTOP / "node_modules" / "playwright-core").is_dir():
        return "desktop-integration has no node_modules/playwright-core (run npm ci there)"
    return None


def _program(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, browser_missing()
    return found


def build_dev_page(out: Path) -> Path:
    """The dev page as the test's own Vite build of the current source (about a second)."""
    subprocess.run(
        [
            _program("npm"),
            "run",
            "--silent",
            "build:dev-page",
            "--",
            "--outDir",
            str(out),
            "--emptyOutDir",
        ],
        cwd=DESKTOP,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert (out / "index.html").is_file(), f"vite wrote no index.html to {out}"
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """A static file server on 127.0.0.1 for ``folder``; yields its origin."""
    (port,) = free_ports(1)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="dev-page", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def dev_page_url(origin: str, ready: dict[str, Any]) -> str:
    """The dev page pointed at a running ``up``: its documented ``?control_url&token`` form."""
    return f"{origin}/?{urlencode({'control_url': ready['control_url'], 'token': ready['token']})}"


class BrowserError(AssertionError):
    pass


@dataclass
class Recording:
    """16 kHz mono audio that a tap recorded, and where it starts on the taps' clock."""

    start_time: float
    samples: np.ndarray

    sample_rate = 16000

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def time_of(self, index: int) -> float:
        return self.start_time + index / self.sample_rate

    def between(self, start: float, end: float) -> np.ndarray:
        """The samples between two times on the taps' clock."""
        first = max(0, int((start - self.start_time) * self.sample_rate))
        last = max(first, int((end - self.start_time) * self.sample_rate))
        return self.samples[first:last]

    def loud_spans(
        self, *, threshold: float = 0.02, window_s: float = 0.05
    ) -> list[tuple[float, float]]:
        """(start, end) on the taps' clock of every stretch whose RMS exceeds ``threshold``,
        with gaps shorter than 0.3 s (pauses between words) bridged."""
        window = int(self.sample_rate * window_s)
        count = len(self.samples) // window
        if count == 0:
            return []
        frames = self.samples[: count * window].reshape(count, window)
        loud = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) > threshold
        spans: list[tuple[float, float]] = []
        for index in np.flatnonzero(loud):
            start = self.time_of(int(index) * window)
            end = start + window_s
            if spans and start - spans[-1][1] < 0.3:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        return spans


class Browser:
    """One ``node e2e/driver.mjs``: a Chromium it launches on request, one page at a time."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [_program("node"), str(DRIVER)],
            cwd=DESKTOP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CHROMIUM_BIN": str(CHROMIUM)},
        )
        self._answers: queue.Queue[str] = queue.Queue()
        self._next_id = 0
        self.stderr: list[str] = []
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        threading.Thread(
            target=self._pump, args=(self._proc.stdout, self._answers.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self._proc.stderr, self.stderr.append), daemon=True
        ).start()

    @staticmethod
    def _pump(stream: Any, put: Callable[[str], None]) -> None:
        for line in stream:
            put(line)

    def call(self, op: str, *, timeout: float = 30, **args: Any) -> Any:
        assert self._proc.stdin is not None
        self._next_id += 1
        self._proc.stdin.write(json.dumps({"id": self._next_id, "op": op, **args}) + "\n")
        self._proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._answers.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise BrowserError(
                    f"the browser driver did not answer {op!r} within {timeout}s; "
                    f"stderr: {''.join(self.stderr)[-2000:]}"
                ) from None
            answer = json.loads(line)
            if answer["id"] != self._next_id:
                continue  # the late answer of a request that timed out
            if not answer["ok"]:
                raise BrowserError(f"{op}: {answer['error']}")
            return answer["value"]

    # -- the page, as a user sees it -----------------------------------------------
    def launch(self, microphone: Path, *, loop: bool = True) -> str:
        """A fresh Chromium whose microphone plays ``microphone``; returns its version."""
        version: str = self.call("launch", audio=str(microphone), loop=loop, timeout=60)
        return version

    def goto(self, url: str) -> None:
        self.call("goto", url=url)

    def click(self, name: str) -> None:
        self.call("click", role="button", name=name)

    def status(self) -> str:
        return str(self.call("text", testid="agent-status")).strip()

    def transcript(self) -> list[tuple[str, str]]:
        """(who, text) of each message in the transcript log, as displayed."""
        text = self.call("text", role="log", name="Transcript") or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]

    def latency_text(self) -> str | None:
        value = self.call("text", role="region", name="Latency of the last turn")
        return None if value is None else str(value)

    def pressed(self, name: str) -> bool:
        return bool(
            self.call("attribute", role="button", name=name, attribute="aria-pressed") == "true"
        )

    def taps_now(self) -> float:
        return float(self.call("taps_now"))

    def recording(self, name: str) -> Recording:
        taken = self.call("take", name=name, timeout=60)
        if taken is None:
            raise BrowserError(f"the page has no {name!r} recording (no such audio arrived)")
        pcm = np.frombuffer(base64.b64decode(taken["pcm16"]), dtype=np.int16)
        return Recording(float(taken["startTime"]), pcm.astype(np.float32) / 32767)

    def screenshot(self, path: Path) -> None:
        self.call("screenshot", path=str(path))

    def console(self) -> list[str]:
        lines: list[str] = self.call("console")
        return lines

    def close_page(self) -> None:
        self.call("close", timeout=30)

    def count(self, selector: str) -> int:
        return int(self.call("count", selector=selector))

    def wait_until(
        self, what: str, condition: Callable[[], bool], timeout: float, *, every: float = 0.1
    ) -> float:
        """Polls ``condition`` until it holds and returns the seconds that took; fails with
        ``what`` and the page's state after ``timeout`` seconds."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise BrowserError(
                    f"{what}: not within {timeout}s. Status {self.status()!r}, transcript "
                    f"{self.transcript()}, console tail {self.console()[-15:]}"
                )
            time.sleep(every)
        return time.monotonic() - started

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)


def microphone_wav(path: Path, *parts: Path | float) -> Path:
    """What the fake microphone plays: speech files and pauses (seconds) in order, 16 kHz."""
    from voice_sidecar.audio_files import SPEECH_SAMPLE_RATE, float_to_int16, read_speech, write_wav

    pieces = [
        np.zeros(int(part * SPEECH_SAMPLE_RATE), dtype=np.float32)
        if isinstance(part, float | int)
        else read_speech(part)
        for part in parts
    ]
    write_wav(path, float_to_int16(np.concatenate(pieces)), sample_rate=SPEECH_SAMPLE_RATE)
    return path


@dataclass
class BrowserStack:
    """``voice-sidecar up`` (real livekit-server, agent worker, control API) that allows the
    dev page's origin, as a developer starts it for the dev page."""

    up: UpProcess
    ready: dict[str, Any]
    health_port: int
    page_url: str

    @classmethod
    @contextmanager
    def running(cls, root: Path, *, page_origin: str, llm_base_url: str) -> Iterator[BrowserStack]:
        binary = real_livekit_server()
        assert binary is not None, "the livekit_server marker skips tests without a binary"
        env = up_env(
            root,
            LIVEKIT_SERVER_BIN=str(binary),
            VOICE_SIDECAR_LLM_BASE_URL=llm_base_url,
            **home_env(root),
        )
        # start_up reads up's stderr as well as its events: unread, the pipe fills (64 KiB,
        # two conversations) and up blocks writing to it, freezing the whole stack
        up = start_up(env, "--dev-origin", page_origin)
        try:
            ready = up.next_event("ready", 180)
            yield cls(
                up,
                ready,
                int(env["VOICE_SIDECAR_PORTS_AGENT_HEALTH"]),
                dev_page_url(page_origin, ready),
            )
        finally:
            up.stop()

    def service_pid(self, service: str) -> int:
        """The pid of ``service`` (livekit-server, agent) as up's latest event reports it."""
        pids = [
            e["pid"]
            for e in self.events()
            if e["event"] == "service" and e["service"] == service and e.get("pid")
        ]
        assert pids, f"up reported no pid for {service}: {self.up.events}"
        return int(pids[-1])

    def events(self) -> list[dict[str, Any]]:
        """Every event up printed so far."""
        while True:
            try:
                self.up.events.append(json.loads(self.up.lines.get_nowait()))
            except queue.Empty:
                return self.up.events

    def active_jobs(self) -> int:
        """Jobs the agent worker runs now (its health server's ``GET /worker``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/worker", timeout=5) as r:
            worker = json.load(r)
        return int(worker.get("active_jobs", 0))  # proto JSON leaves out a zero
