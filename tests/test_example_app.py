"""The real Tauri app (desktop-integration/example-app) driven under Xvfb by tauri-driver.

The app adopts the kit as desktop-integration/README.md says: its Rust side starts the bundled
frozen sidecar (the page only asks, naming nothing), shows VoiceRoom, stores final
transcripts in SQLite through `voice_save_message` and stops the sidecar when its window
closes. Debian's WebKitGTK has no WebRTC, so the room never connects here (Chromium tests
the room); everything around it runs for real: the frozen sidecar with the real
livekit-server beside it, GNOME Keyring as the Secret Service, the app's SQLite file.

Skipped with the reason where the app, tauri-driver or the X/D-Bus programs are missing;
with VOICE_SIDECAR_TAURI_TESTS=required (.ci/run) a missing part fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from .desktop_session import Bus, close_window, png_size, session_bus_with_keyring, xvfb
from .example_app_support import (
    BUNDLE_DIR,
    REQUIRED,
    REQUIRED_VARIABLE,
    ROOT,
    WINDOW_TITLE,
    RunningApp,
    app_copy,
    database,
    example_app,
    missing_parts,
    run_app,
)
from .model_mirror import ModelMirror
from .models_support import serve_bundled
from .process_support import survivors
from .up_support import home_env, up_env
from .webdriver import ELEMENT_KEY

MISSING = missing_parts()
pytestmark = [
    pytest.mark.tauri_app,
    pytest.mark.skipif(
        bool(MISSING) and not REQUIRED,
        reason="cannot drive the example app: needs " + "; ".join(MISSING),
    ),
]

SCREENSHOT = ROOT / "docs" / "images" / "example-app-linux.png"
# read now: the hermetic home fixture removes every VOICE_SIDECAR_* variable before tests run
UPDATE_SCREENSHOT = os.environ.get("VOICE_SIDECAR_UPDATE_SCREENSHOTS") == "1"
READY_TIMEOUT = 240  # the first start downloads the models from the mirror
KEY = "sk-example-app-0123456789abcdefghij"

# Final transcript messages as VoiceSession hands them to the room's onMessage: a user turn,
# the reply, a barge-in that cut the next reply off, and one message delivered twice (the
# sink sees a segment again when a reconnecting session replays it).
CONVERSATION: list[dict[str, Any]] = [
    {
        "id": "seg-u1",
        "speaker": "user",
        "text": "What is the capital of France?",
        "interrupted": False,
    },
    {"id": "seg-a1", "speaker": "assistant", "text": "Paris.", "interrupted": False},
    {"id": "seg-u2", "speaker": "user", "text": "And of Italy?", "interrupted": False},
    {"id": "seg-a2", "speaker": "assistant", "text": "Rome is the", "interrupted": True},
    {"id": "seg-u3", "speaker": "user", "text": "Thanks, that's all.", "interrupted": False},
    {"id": "seg-u3", "speaker": "user", "text": "Thanks, that's all.", "interrupted": False},
]
ROOM = "pa-room-example"


@pytest.fixture(scope="module", autouse=True)
def _required() -> None:
    if MISSING:
        pytest.fail(f"{REQUIRED_VARIABLE}=required, but this machine lacks: " + "; ".join(MISSING))


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb() as value:
        yield value


@pytest.fixture(scope="module")
def mirror() -> Iterator[ModelMirror]:
    with ModelMirror() as served:
        serve_bundled(served)
        yield served


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every run in this module: the models are downloaded once."""
    return tmp_path_factory.mktemp("models")


def _app_env(root: Path, display: str, mirror: ModelMirror, models_dir: Path) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VOICE_SIDECAR_") and k not in ("PYTHON_KEYRING_BACKEND",)
    }
    env = {
        **inherited,
        **home_env(root),
        **{k: v for k, v in up_env(root).items() if k.startswith("VOICE_SIDECAR_")},
        # loopback, and taken for Nebius ("nebius" in the URL, LlmSettings.is_nebius), so the
        # backend asks for the key; with none it never calls the LLM, and nothing leaves the box
        "VOICE_SIDECAR_LLM_BASE_URL": "http://127.0.0.1:9/nebius/v1",
        "VOICE_SIDECAR_MODELS_DIR": str(models_dir),
        "VOICE_SIDECAR_MODELS_MIRROR_URL": mirror.url,
        "DISPLAY": display,
        "GDK_BACKEND": "x11",
        "NO_AT_BRIDGE": "1",  # no accessibility bus in this session
    }
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    return env


class Desktop:
    """Per test: a home folder, a session bus with an unlocked keyring, and runs of the app."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def run(self, exe: Path | None = None, log: str = "app.log") -> Any:
        built = example_app()
        assert built is not None
        return run_app(exe or built, self.env, self.root / log)


@pytest.fixture
def desktop(
    tmp_path: Path, display: str, mirror: ModelMirror, models_dir: Path
) -> Iterator[Desktop]:
    env = _app_env(tmp_path, display, mirror, models_dir)
    with session_bus_with_keyring(env) as bus:
        yield Desktop(tmp_path, {**env, "DBUS_SESSION_BUS_ADDRESS": bus.address})


@pytest.fixture(scope="module")
def shared_desktop(
    tmp_path_factory: pytest.TempPathFactory, display: str, mirror: ModelMirror, models_dir: Path
) -> Iterator[tuple[Desktop, Bus]]:
    root = tmp_path_factory.mktemp("desktop")
    env = _app_env(root, display, mirror, models_dir)
    with session_bus_with_keyring(env) as bus:
        yield Desktop(root, {**env, "DBUS_SESSION_BUS_ADDRESS": bus.address}), bus


@pytest.fixture(scope="module")
def ready_app(shared_desktop: tuple[Desktop, Bus]) -> Iterator[RunningApp]:
    """One run of the built app, ready, shared by the tests below in file order; the last of
    them closes its window."""
    desktop, _ = shared_desktop
    with desktop.run() as app:
        app.wait_for_phase("ready", READY_TIMEOUT)
        yield app


def _sidecar(app: RunningApp, timeout: float = 30) -> psutil.Process:
    """The sidecar the app spawned: on Unix the launcher execs the bundle, same pid."""

    def find() -> psutil.Process | None:
        for child in app.process().children():
            try:
                if BUNDLE_DIR in child.exe():
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    found = app.session.wait_until(find, timeout, "the sidecar process")
    assert isinstance(found, psutil.Process)
    return found


def _sidecar_log(env: dict[str, str]) -> str:
    return Path(env["VOICE_SIDECAR_LOGGING_FILE"]).read_text(errors="replace")


def _invoke(app: RunningApp, command: str, args: dict[str, Any]) -> dict[str, Any]:
    """`invoke` from the app's own page, as its JavaScript (or an injected script) can."""
    result = app.session.execute_async(
        """
        const [command, args, done] = arguments;
        window.__TAURI_INTERNALS__.invoke(command, args).then(
          (value) => done({ ok: true, value }),
          (error) => done({ ok: false, error: String(error) }),
        );
        """,
        command,
        args,
    )
    assert isinstance(result, dict)
    return result


def _start_sidecar(app: RunningApp, **extra: Any) -> dict[str, Any]:
    """The app's `voice_sidecar_spawn` as the kit sends it (a channel), plus `extra` keys."""
    result = app.session.execute_async(
        """
        const [extra, done] = arguments;
        const internals = window.__TAURI_INTERNALS__;
        const id = internals.transformCallback(() => {});
        internals
          .invoke("voice_sidecar_spawn", { ...extra, onOutput: `__CHANNEL__:${id}` })
          .then(
            (pid) => done({ ok: true, pid }),
            (error) => done({ ok: false, error: String(error) }),
          );
        """,
        extra,
    )
    assert isinstance(result, dict)
    return result


def _spawn(app: RunningApp, program: str, args: Any, **options: Any) -> dict[str, Any]:
    """The shell plugin's spawn as `Command.sidecar(...).spawn()` sends it, with a channel."""
    result = app.session.execute_async(
        """
        const [program, args, options, done] = arguments;
        const internals = window.__TAURI_INTERNALS__;
        const id = internals.transformCallback(() => {});
        internals
          .invoke("plugin:shell|spawn", { program, args, options, onEvent: `__CHANNEL__:${id}` })
          .then(
            (pid) => done({ ok: true, pid }),
            (error) => done({ ok: false, error: String(error) }),
          );
        """,
        program,
        args,
        {"sidecar": True, **options},
    )
    assert isinstance(result, dict)
    return result


# -- one ready app ---------------------------------------------------------------------------


def test_the_app_spawns_the_bundled_sidecar_with_its_own_pid(ready_app: RunningApp) -> None:
    app = ready_app.process()
    sidecar = _sidecar(ready_app)
    assert sidecar.cmdline()[1:] == ["up", "--parent-pid", str(app.pid)]
    # the bundled one-dir build, run by the launcher Tauri placed beside the app
    assert Path(sidecar.exe()).parent == ready_app.exe.parent / BUNDLE_DIR
    services = {Path(p.exe()).name for p in sidecar.children(recursive=True)}
    # livekit-server from beside the app's executable (Tauri strips the triple)
    assert "livekit-server" in services, services


def test_the_web_view_has_no_webrtc_so_the_app_shows_push_to_talk(ready_app: RunningApp) -> None:
    """Evidence for the kit's README (step 5): Debian 12's WebKitGTK 2.50 is built without
    WebRTC; `allow_microphone_on_linux` turned `enable-webrtc` on, and still there is none."""
    seen = ready_app.session.execute(
        "return { pc: typeof RTCPeerConnection, media: typeof navigator.mediaDevices,"
        " secure: window.isSecureContext, origin: location.origin };"
    )
    assert seen["pc"] == "undefined", seen
    assert seen["secure"] is True
    notice = ready_app.session.wait_for("[data-testid=push-to-talk]", 10)
    assert "no WebRTC" in ready_app.session.text(notice)
    start = ready_app.session.find("button.vr-primary")
    assert start is not None
    assert ready_app.session.execute("return arguments[0].disabled", {ELEMENT_KEY: start}) is True


def test_the_page_reaches_no_shell_command(ready_app: RunningApp) -> None:
    """The page has no shell permission at all: it cannot start the sidecar (even with the
    arguments the app uses), another program, write to a child's stdin or kill it."""
    pid = str(ready_app.process().pid)
    sidecar = _sidecar(ready_app)
    refused = {
        "the sidecar as the app starts it": _spawn(
            ready_app, "binaries/voice-sidecar", ["up", "--parent-pid", pid]
        ),
        "the other bundled binary": _spawn(ready_app, "binaries/livekit-server", ["--dev"]),
        "a program that is not a sidecar": _spawn(ready_app, "sh", ["-c", "id"], sidecar=False),
        "execute": _invoke(
            ready_app,
            "plugin:shell|execute",
            {
                "program": "binaries/voice-sidecar",
                "args": ["up", "--parent-pid", pid],
                "options": {"sidecar": True},
            },
        ),
        "stdin_write": _invoke(
            ready_app, "plugin:shell|stdin_write", {"pid": sidecar.pid, "buffer": "x\n"}
        ),
        "kill": _invoke(ready_app, "plugin:shell|kill", {"cmd": "killChild", "pid": sidecar.pid}),
        "open": _invoke(ready_app, "plugin:shell|open", {"path": "file:///etc/passwd"}),
    }
    for what, result in refused.items():
        assert result["ok"] is False, f"{what} was allowed: {result}"
        assert "not allowed" in result["error"], (what, result)
    # the app's own command starts one sidecar at a time
    again = _start_sidecar(ready_app)
    assert again["ok"] is False, again
    assert "already running" in again["error"], again
    assert sidecar.is_running()
    assert [c.pid for c in ready_app.process().children() if BUNDLE_DIR in c.exe()] == [sidecar.pid]


def test_the_key_form_stores_the_key_in_the_secret_service(
    ready_app: RunningApp, shared_desktop: tuple[Desktop, Bus]
) -> None:
    session = ready_app.session
    form = session.wait_for("[data-testid=api-key-form]", 30)
    field = session.find("[data-testid=api-key-form] input[type=password]")
    assert form
    assert field
    session.type(field, KEY)
    button = session.find("[data-testid=api-key-form] button[type=submit]")
    assert button is not None
    session.click(button)
    session.wait_gone("[data-testid=api-key-form]", 30)
    # the backend reads it back from GNOME Keyring (the same bus and home as the app)
    launcher = ready_app.exe.parent / "voice-sidecar"
    proc = subprocess.run(
        [str(launcher), "key", "status", "--json"],
        capture_output=True,
        text=True,
        env=ready_app.env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["keyring_backend"] == "keyring.backends.SecretService.Keyring"
    assert status["source"] == "keyring"
    assert status["stored_in_keyring"] is True
    assert KEY not in ready_app.log.read_text(errors="replace")


def test_final_transcripts_land_in_sqlite_once(ready_app: RunningApp) -> None:
    started = int(time.time() * 1000)
    sent = ready_app.session.execute_async(
        """
        const [messages, room, started, done] = arguments;
        const sink = window.voiceExampleMessageSink;
        if (!sink) { done("no message sink"); return; }
        messages.forEach((m, i) => sink(
          { ...m, final: true, startedAt: started + 1000 * i, participantIdentity: m.speaker },
          { room },
        ));
        done("sent");
        """,
        CONVERSATION,
        ROOM,
        started,
    )
    assert sent == "sent"
    path = database(ready_app.env)

    def rows() -> list[tuple[Any, ...]]:
        if not path.exists():
            return []
        with sqlite3.connect(path) as db:
            return db.execute(
                "SELECT room, segment_id, role, text, interrupted, started_at_ms"
                " FROM voice_messages ORDER BY started_at_ms"
            ).fetchall()

    unique = {m["id"]: m for m in CONVERSATION}
    ready_app.session.wait_until(lambda: len(rows()) == len(unique), 10, "the rows")
    time.sleep(0.5)  # the repeated delivery had its chance
    stored = rows()
    assert [(r[1], r[2], r[3], bool(r[4])) for r in stored] == [
        (m["id"], m["speaker"], m["text"], m["interrupted"]) for m in unique.values()
    ]
    assert {r[0] for r in stored} == {ROOM}
    assert stored[0][5] == started
    # the command refuses what the table would: an unknown role
    bad = _invoke(
        ready_app,
        "voice_save_message",
        {
            "message": {
                "room": ROOM,
                "segmentId": "seg-x",
                "role": "system",
                "text": "x",
                "interrupted": False,
                "startedAt": started,
            }
        },
    )
    assert bad["ok"] is False
    assert "unknown role" in bad["error"]


def test_a_screenshot_of_the_real_window(ready_app: RunningApp, tmp_path: Path) -> None:
    png = ready_app.session.screenshot()
    shot = tmp_path / "example-app.png"
    shot.write_bytes(png)
    width, height = png_size(shot)
    assert width > 400
    assert height > 400
    if UPDATE_SCREENSHOT:  # docs/images/example-app-linux.png, for the kit's README
        SCREENSHOT.write_bytes(png)


def test_closing_the_window_stops_the_sidecar_and_its_services(
    ready_app: RunningApp, shared_desktop: tuple[Desktop, Bus]
) -> None:
    app = ready_app.process()
    sidecar = _sidecar(ready_app)
    tree = {sidecar.pid, *(p.pid for p in sidecar.children(recursive=True))}
    assert len(tree) >= 3, "expected up, the agent and livekit-server"
    closed = time.monotonic()
    assert close_window(ready_app.env["DISPLAY"], WINDOW_TITLE) >= 1
    assert survivors(tree, 5) == set(), "the sidecar or a service outlived the window by 5 s"
    took = time.monotonic() - closed
    assert survivors({app.pid}, 10) == set(), "the app did not exit after its window closed"
    # stopSidecarOnExit asked it to stop (the stdin line, POST /shutdown): it was not killed
    assert "stopping (shutdown_request)" in _sidecar_log(ready_app.env)
    print(f"\n[example app] window closed -> sidecar tree gone in {took:.1f} s")


# -- runs of their own -----------------------------------------------------------------------


def test_kill_9_of_the_app_leaves_nothing_running(desktop: Desktop) -> None:
    with desktop.run() as app:
        app.wait_for_phase("ready", READY_TIMEOUT)
        proc = app.process()
        tree = {p.pid for p in proc.children(recursive=True)}
        assert any(BUNDLE_DIR in p.exe() for p in proc.children()), "no sidecar"
        os.kill(proc.pid, signal.SIGKILL)
        assert survivors(tree, 5) == set(), "processes outlived a kill -9 of the app by 5 s"
        # the sidecar saw its parent go (or its stdin close) and stopped its services itself
        log = _sidecar_log(app.env)
        assert "stopping (parent_exit)" in log or "stopping (stdin_closed)" in log


FAKE_SIDECAR = """#!/bin/sh
# stands in for a sidecar that crashes at once, and records how it was started
printf '%s\\n' "$*" >> "$EXAMPLE_SIDECAR_STARTS"
printf 'INJECTED=%s\\n' "${EXAMPLE_INJECTED:-}" >> "$EXAMPLE_SIDECAR_STARTS"
echo "voice-sidecar: error: something broke" >&2
exit 1
"""


def _app_with_crashing_sidecar(desktop: Desktop, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the app whose sidecar is FAKE_SIDECAR; the file it records its starts in."""
    fake = tmp_path / "crashing-sidecar"
    fake.write_text(FAKE_SIDECAR)
    fake.chmod(0o755)
    starts = tmp_path / "starts.txt"
    desktop.env["EXAMPLE_SIDECAR_STARTS"] = str(starts)
    return app_copy(tmp_path / "app", sidecar=fake), starts


def test_a_crashing_sidecar_shows_the_error_panel_and_is_not_restarted_forever(
    desktop: Desktop, tmp_path: Path
) -> None:
    exe, starts = _app_with_crashing_sidecar(desktop, tmp_path)
    with desktop.run(exe) as app:
        # restarts after 1, 2, 4 and 8 s; the fifth exit within 2 minutes ends them
        panel = app.session.wait_for("[data-testid=backend-failed]", 60)
        assert "kept crashing" in app.session.text(panel)
        assert app.session.find("[data-testid=backend-failed] button") is not None  # Try again
        time.sleep(5)
        lines = starts.read_text().splitlines()
        pid = str(app.process().pid)
        assert lines[0::2] == [f"up --parent-pid {pid}"] * 5


def test_the_page_chooses_nothing_the_sidecar_runs_with(desktop: Desktop, tmp_path: Path) -> None:
    """What the page sends beside the channel is ignored: the sidecar starts as `up
    --parent-pid <the app>` with the app's environment. (Through the shell plugin's scope
    the page could set `options.env`, and with it the LLM endpoint the stored key goes to.)"""
    exe, starts = _app_with_crashing_sidecar(desktop, tmp_path)
    with desktop.run(exe) as app:
        app.session.wait_for("[data-testid=backend-failed]", 60)
        before = len(starts.read_text().splitlines())
        result = _start_sidecar(
            app,
            program="binaries/livekit-server",
            args=["down", "--dev-origin", "http://evil.example"],
            env={"EXAMPLE_INJECTED": "from-the-page"},
            options={"env": {"EXAMPLE_INJECTED": "from-the-page"}, "cwd": "/"},
        )
        assert result["ok"] is True, result
        app.session.wait_until(
            lambda: len(starts.read_text().splitlines()) > before, 10, "the extra start"
        )
        argv, env = starts.read_text().splitlines()[before : before + 2]
        assert argv == f"up --parent-pid {app.process().pid}"
        assert env == "INJECTED="


def test_a_missing_sidecar_binary_says_reinstall(desktop: Desktop, tmp_path: Path) -> None:
    exe = app_copy(tmp_path / "app", with_sidecar=False)
    with desktop.run(exe) as app:
        panel = app.session.wait_for("[data-testid=backend-failed]", 30)
        text = app.session.text(panel)
        assert "reinstall the app" in text, text


def test_a_missing_sidecar_bundle_says_reinstall(desktop: Desktop, tmp_path: Path) -> None:
    exe = app_copy(tmp_path / "app")
    (exe.parent / BUNDLE_DIR).unlink()
    with desktop.run(exe) as app:
        panel = app.session.wait_for("[data-testid=backend-failed]", 30)
        text = app.session.text(panel)
        assert "reinstall the app" in text, text
