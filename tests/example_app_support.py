"""Running desktop-integration/example-app (the real Tauri app) under tauri-driver.

scripts/build-example-app.sh builds the app; VOICE_SIDECAR_EXAMPLE_APP names its executable
(default: the script's debug build). The app is started by tauri-driver, which starts
WebKitWebDriver, which starts the app: the environment given to tauri-driver is the app's,
and the app hands it on to the sidecar it spawns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.error
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from .desktop_session import missing_desktop_programs
from .livekit_fixtures import free_ports
from .webdriver import Session

ROOT = Path(__file__).resolve().parent.parent
APP_VARIABLE = "VOICE_SIDECAR_EXAMPLE_APP"
DRIVER_VARIABLE = "TAURI_DRIVER"
REQUIRED_VARIABLE = "VOICE_SIDECAR_TAURI_TESTS"
TAURI_DRIVER_VERSION = "2.1.0"  # scripts/install-tauri-driver.sh installs this one
CACHE = Path("~/.cache/private-assistant-ci").expanduser()  # read at import: the real home
DEFAULT_APP = CACHE / "example-app-target" / "debug" / "voice-example-app"
DEFAULT_DRIVER = CACHE / f"tauri-driver-{TAURI_DRIVER_VERSION}" / "bin" / "tauri-driver"
WINDOW_TITLE = "Voice example app"  # tauri.conf.json, app.windows[0].title
IDENTIFIER = "dev.private-assistant.voice-example"  # tauri.conf.json, identifier
BUNDLE_DIR = "voice-sidecar-bundle"

# read at import: the hermetic home fixture removes every VOICE_SIDECAR_* variable before
# the tests run
REQUIRED = os.environ.get(REQUIRED_VARIABLE) == "required"
_GIVEN_APP = os.environ.get(APP_VARIABLE)


def example_app() -> Path | None:
    path = Path(_GIVEN_APP) if _GIVEN_APP else DEFAULT_APP
    return path if path.is_file() else None


def tauri_driver() -> Path | None:
    given = os.environ.get(DRIVER_VARIABLE)
    if given:
        return Path(given) if Path(given).is_file() else None
    if DEFAULT_DRIVER.is_file():
        return DEFAULT_DRIVER
    found = shutil.which("tauri-driver")
    return Path(found) if found else None


def missing_parts() -> list[str]:
    """What this machine lacks to drive the app, each with the fix."""
    missing = []
    if example_app() is None:
        missing.append(f"the example app (scripts/build-example-app.sh, or set {APP_VARIABLE})")
    if tauri_driver() is None:
        missing.append(f"tauri-driver (scripts/install-tauri-driver.sh, or set {DRIVER_VARIABLE})")
    if shutil.which("WebKitWebDriver") is None:
        missing.append("WebKitWebDriver (apt-get install webkit2gtk-driver)")
    missing.extend(f"{name} (see .ci/run)" for name in missing_desktop_programs())
    return missing


# -- app folders ---------------------------------------------------------------------------------


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def app_copy(folder: Path, *, sidecar: Path | None = None, with_sidecar: bool = True) -> Path:
    """The built app laid out again in ``folder`` (hard links where possible), optionally with
    another ``voice-sidecar`` or none; returns the copy's executable."""
    built = example_app()
    assert built is not None
    source = built.parent
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / built.name
    _link_or_copy(built, exe)
    _link_or_copy(source / "livekit-server", folder / "livekit-server")
    (folder / BUNDLE_DIR).symlink_to(source / BUNDLE_DIR, target_is_directory=True)
    if with_sidecar:
        shutil.copy2(sidecar or source / "voice-sidecar", folder / "voice-sidecar")
    return exe


def database(env: Mapping[str, str]) -> Path:
    """Where the app keeps its SQLite file: its app data folder (Tauri: XDG_DATA_HOME/<id>)."""
    return Path(env["XDG_DATA_HOME"]) / IDENTIFIER / "voice.sqlite3"


# -- one run of the app --------------------------------------------------------------------------


@dataclass
class RunningApp:
    exe: Path
    session: Session
    driver: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    """tauri-driver's, WebKitWebDriver's and the app's stdout and stderr."""

    def process(self) -> psutil.Process:
        """The app's own process (a child of WebKitWebDriver)."""
        for proc in psutil.Process(self.driver.pid).children(recursive=True):
            try:
                if Path(proc.exe()) == self.exe.resolve():
                    return proc
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        raise AssertionError(f"no process runs {self.exe}")

    def phase(self) -> str:
        element = self.session.find("[data-testid=backend-phase]")
        return self.session.text(element).removeprefix("Voice backend: ") if element else ""

    def wait_for_phase(self, phase: str, timeout: float) -> None:
        self.session.wait_until(lambda: self.phase() == phase, timeout, f"backend phase {phase}")


def _new_session(port: int, driver: subprocess.Popen[bytes], exe: Path) -> Session:
    """A session once tauri-driver and the WebKitWebDriver behind it listen (tauri-driver
    accepts connections before its native driver does, and drops them until then)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return Session(
                f"http://127.0.0.1:{port}",
                {"alwaysMatch": {"tauri:options": {"application": str(exe)}}},
            )
        except (ConnectionError, urllib.error.URLError):
            if driver.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


@contextmanager
def run_app(exe: Path, env: Mapping[str, str], log: Path) -> Iterator[RunningApp]:
    """Starts the app through tauri-driver; at the end, closes the session and makes sure
    nothing the run started is left (whatever a test did to it)."""
    driver_path = tauri_driver()
    assert driver_path is not None
    port, native_port = free_ports(2)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        driver = subprocess.Popen(
            [
                str(driver_path),
                "--port",
                str(port),
                "--native-port",
                str(native_port),
                "--native-driver",
                str(shutil.which("WebKitWebDriver")),
            ],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    started: set[int] = set()
    session: Session | None = None
    try:
        session = _new_session(port, driver, exe)
        app = RunningApp(exe=exe, session=session, driver=driver, env=dict(env), log=log)
        started = {p.pid for p in psutil.Process(driver.pid).children(recursive=True)}
        yield app
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            started |= {p.pid for p in psutil.Process(driver.pid).children(recursive=True)}
        if session is not None:
            session.close_session()
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait(10)
        _kill_all(started)
