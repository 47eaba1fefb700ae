"""``voice-sidecar start`` as a person runs it: a real process at a real (pseudo-)terminal.

The key is typed at the hidden prompt, livekit-server is fetched from a release mirror on
127.0.0.1 (the fake server, ``tests/fakes``), the output is read as a person would read it,
and Ctrl+C is the terminal's own: the byte ^C on the pty, which the kernel turns into SIGINT
for the foreground process group. Each test has its own home, cache, state and keyring.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .livekit_fixtures import free_ports, write_fake_binary
from .process_support import survivors
from .start_support import release_mirror
from .up_support import home_env

KEY = "nb-" + "Typ3dAtThePrompt" * 2
LOCAL_NEBIUS = "http://127.0.0.1:9/nebius/v1"  # counts as Nebius, and is never reached


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    http, tcp, udp, health = free_ports(4)
    env = {
        **os.environ,
        **home_env(tmp_path),
        "VOICE_SIDECAR_PORTS_LIVEKIT_HTTP": str(http),
        "VOICE_SIDECAR_PORTS_LIVEKIT_RTC_TCP": str(tcp),
        "VOICE_SIDECAR_PORTS_LIVEKIT_RTC_UDP": str(udp),
        "VOICE_SIDECAR_PORTS_AGENT_HEALTH": str(health),
        "VOICE_SIDECAR_STT_MODEL": "tiny.en",
        "VOICE_SIDECAR_LOGGING_FILE": str(tmp_path / "log" / "voice-sidecar.log"),
        **extra,
    }
    if "LIVEKIT_SERVER_BIN" not in extra:
        env.pop("LIVEKIT_SERVER_BIN", None)
        env["PATH"] = str(Path(sys.executable).parent)  # no livekit-server on PATH either
    return env


def _start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voice_sidecar", "start", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _no_json(output: str) -> None:
    """Readable lines only: not one of up's JSON events."""
    assert '{"v": 1' not in output


def test_without_a_terminal_it_goes_on_without_a_key_and_names_what_is_missing(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, VOICE_SIDECAR_LLM_BASE_URL=LOCAL_NEBIUS)
    result = _start(env, "--no-fetch")
    assert result.returncode == 5
    assert "No Nebius API key and no terminal to ask at" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("voice-sidecar: error: livekit-server was not found")
    assert last.endswith("(not fetched: --no-fetch)")
    _no_json(result.stdout)


def test_it_fetches_livekit_server_then_names_a_busy_port(tmp_path: Path) -> None:
    env = _env(tmp_path, VOICE_SIDECAR_LLM_BASE_URL="http://127.0.0.1:9/v1")
    busy = socket.socket()
    busy.bind(("127.0.0.1", int(env["VOICE_SIDECAR_PORTS_LIVEKIT_HTTP"])))
    busy.listen()
    try:
        with release_mirror(tmp_path / "releases") as mirror:
            result = _start(env, "--livekit-base-url", mirror)
    finally:
        busy.close()
    assert result.returncode == 6, result.stderr
    installed = tmp_path / "cache" / "private-assistant" / "voice-sidecar" / "bin"
    assert (installed / "livekit-server").is_file()
    assert f"installed at {installed / 'livekit-server'}" in result.stdout
    assert "API key" not in result.stdout  # not Nebius: nothing asked, nothing said
    assert f"port {env['VOICE_SIDECAR_PORTS_LIVEKIT_HTTP']} on 127.0.0.1" in result.stderr
    _no_json(result.stdout)


# -- at a terminal ---------------------------------------------------------------------------


class Terminal:
    """``voice-sidecar start`` in a new session whose controlling terminal is a fresh pty."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        master, slave = pty.openpty()

        def take_terminal() -> None:  # in the child, after setsid (start_new_session)
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voice_sidecar", "start", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            # the point: a real controlling terminal, so ^C is the kernel's SIGINT
            preexec_fn=take_terminal,
        )
        os.close(slave)
        self._master = master
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # EIO: every holder of the pty's other end has gone
                return
            if not chunk:
                return
            with self._lock:
                self._output += chunk

    @property
    def text(self) -> str:
        with self._lock:
            return self._output.decode("utf-8", "replace").replace("\r\n", "\n")

    def wait_for(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text:
                return self.text
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{needle!r} did not appear within {timeout}s; the screen:\n{self.text}"
        )

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        os.close(self._master)


def _key_command(
    env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``voice-sidecar key ...`` in the same home and keyring as the terminal's start."""
    return subprocess.run(
        [sys.executable, "-m", "voice_sidecar", "key", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    return _env(
        tmp_path,
        LIVEKIT_SERVER_BIN=str(write_fake_binary(tmp_path / "bin")),
        VOICE_SIDECAR_LLM_BASE_URL=LOCAL_NEBIUS,
    )


@pytest.fixture
def terminal(terminal_env: dict[str, str]) -> Iterator[Terminal]:
    term = Terminal(
        terminal_env, "--stt-device", "cpu", "--persona", '{"name": "Ada", "language": "en"}'
    )
    yield term
    leftover = _descendants(term.proc.pid) if term.proc.poll() is None else set()
    term.close()
    for pid in leftover:
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _agent_pid(screen: str) -> int:
    match = re.search(r"agent: ready \(pid (\d+)\)", screen)
    assert match, screen
    return int(match.group(1))


@pytest.mark.slow
def test_the_key_is_asked_once_the_stack_runs_and_ctrl_c_stops_everything(
    terminal: Terminal, terminal_env: dict[str, str], tmp_path: Path
) -> None:
    terminal.wait_for("Nebius API key (input hidden, Enter to skip): ", timeout=60)
    terminal.type(KEY + "\n")
    terminal.wait_for("Stored the Nebius API key in the OS keyring", timeout=30)
    screen = terminal.wait_for("Press Ctrl+C to stop everything.", timeout=180)

    # readable lines, not the JSON of 'up'
    assert "livekit-server: ready" in screen
    assert "Ready: the voice backend is running." in screen
    _no_json(screen)
    # the flags given to start reach the agent process as settings
    agent = psutil.Process(_agent_pid(screen)).cmdline()
    assert "stt.device=cpu" in agent
    assert "persona.name=Ada" in agent
    # the key went to the keyring, never to the screen, argv or the log
    status = _key_command(terminal_env, "status", "--json")
    assert json.loads(status.stdout)["source"] == "keyring"
    assert json.loads(status.stdout)["stored_in_keyring"] is True
    assert KEY not in screen
    assert not any(KEY in part for part in agent)

    everything = _descendants(terminal.proc.pid)
    assert len(everything) >= 2
    terminal.type("\x03")  # Ctrl+C at the terminal
    assert terminal.proc.wait(60) == 0
    assert "stopped (Ctrl+C or a stop signal)" in terminal.text
    assert survivors(everything, 10) == set(), "something kept running after Ctrl+C"
    log = Path(terminal_env["VOICE_SIDECAR_LOGGING_FILE"]).read_text(encoding="utf-8")
    assert KEY not in log


@pytest.mark.slow
def test_a_second_start_asks_nothing_and_a_closed_terminal_stops_it(
    terminal_env: dict[str, str],
) -> None:
    """With the key in the keyring there is no prompt; closing the terminal (SIGHUP) stops
    the stack as Ctrl+C does, children included."""
    assert _key_command(terminal_env, "set", "--stdin", stdin=KEY + "\n").returncode == 0
    term = Terminal(terminal_env)
    try:
        screen = term.wait_for("Press Ctrl+C to stop everything.", timeout=180)
        assert "Nebius API key: from the keyring." in screen
        assert "input hidden" not in screen
        everything = _descendants(term.proc.pid)
        os.killpg(term.proc.pid, signal.SIGHUP)  # what the terminal's hang-up sends
        assert term.proc.wait(60) == 0
        assert survivors(everything, 10) == set()
    finally:
        term.close()
