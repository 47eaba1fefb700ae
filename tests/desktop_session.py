"""A Linux desktop session for driving a real app in tests: an X server (Xvfb), a D-Bus
session bus with an unlocked GNOME Keyring (the Secret Service), and the window manager's
"close" (WM_DELETE_WINDOW), sent through Xlib as a title bar's close button sends it."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DESKTOP_PROGRAMS = ("Xvfb", "dbus-daemon", "dbus-send", "gnome-keyring-daemon")


def missing_desktop_programs() -> list[str]:
    return [name for name in DESKTOP_PROGRAMS if shutil.which(name) is None]


def _read_line(fd: int, timeout: float, what: str) -> str:
    """One line from a pipe the child writes to at start-up (display number, bus address)."""
    deadline = time.monotonic() + timeout
    os.set_blocking(fd, False)
    data = b""
    while b"\n" not in data:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout} s")
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        if not chunk:
            raise RuntimeError(f"{what} exited while starting")
        data += chunk
    return data.decode().strip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def xvfb(width: int = 1280, height: int = 1024) -> Iterator[str]:
    """An X server on a free display; yields its DISPLAY value."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            str(shutil.which("Xvfb")),
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        display = ":" + _read_line(read_fd, 30, "Xvfb")
        yield display
    finally:
        os.close(read_fd)
        _stop(proc)


@dataclass(frozen=True)
class Bus:
    address: str
    """DBUS_SESSION_BUS_ADDRESS"""


def _secret_service_owned(env: Mapping[str, str]) -> bool:
    proc = subprocess.run(
        [
            str(shutil.which("dbus-send")),
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=10,
        check=False,
    )
    return "boolean true" in proc.stdout


@contextmanager
def session_bus_with_keyring(
    env: Mapping[str, str],
    password: str = "pw",  # noqa: S107 - a throw-away test keyring
) -> Iterator[Bus]:
    """A private session bus and a GNOME Keyring unlocked with ``password``, its files under
    ``env``'s XDG_DATA_HOME, as on a Linux desktop after log-in."""
    read_fd, write_fd = os.pipe()
    bus = subprocess.Popen(
        [
            str(shutil.which("dbus-daemon")),
            "--session",
            "--nofork",
            "--nopidfile",
            f"--print-address={write_fd}",
        ],
        pass_fds=(write_fd,),
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    keyring: subprocess.Popen[bytes] | None = None
    try:
        address = _read_line(read_fd, 30, "dbus-daemon")
        bus_env = {**env, "DBUS_SESSION_BUS_ADDRESS": address}
        keyring = subprocess.Popen(
            [
                str(shutil.which("gnome-keyring-daemon")),
                "--foreground",
                "--unlock",
                "--components=secrets",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=bus_env,
        )
        assert keyring.stdin is not None
        keyring.stdin.write(password.encode())
        keyring.stdin.close()
        deadline = time.monotonic() + 30
        while not _secret_service_owned(bus_env):
            if keyring.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gnome-keyring-daemon did not offer the Secret Service")
            time.sleep(0.1)
        yield Bus(address)
    finally:
        os.close(read_fd)
        if keyring is not None:
            _stop(keyring)
        _stop(bus)


# -- closing a window as the window manager does ------------------------------------------------

_CLIENT_MESSAGE = 33


class _ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _Event(ctypes.Union):
    _fields_ = [("message", _ClientMessage), ("pad", ctypes.c_long * 24)]


def _xlib() -> ctypes.CDLL:
    x = ctypes.CDLL("libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = ctypes.c_ulong
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XQueryTree.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
        ctypes.POINTER(ctypes.c_uint),
    ]
    x.XFetchName.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_char_p),
    ]
    x.XSendEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(_Event),
    ]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x.XFree.argtypes = [ctypes.c_void_p]
    return x


def _windows_named(x: ctypes.CDLL, display: int, window: int, title: str) -> list[int]:
    found = []
    name = ctypes.c_char_p()
    if x.XFetchName(display, window, ctypes.byref(name)) and name.value is not None:
        if name.value.decode(errors="replace") == title:
            found.append(window)
        x.XFree(name)
    root, parent = ctypes.c_ulong(), ctypes.c_ulong()
    children = ctypes.POINTER(ctypes.c_ulong)()
    count = ctypes.c_uint()
    if x.XQueryTree(
        display,
        window,
        ctypes.byref(root),
        ctypes.byref(parent),
        ctypes.byref(children),
        ctypes.byref(count),
    ):
        kids = [children[i] for i in range(count.value)]
        if children:
            x.XFree(children)
        for kid in kids:
            found.extend(_windows_named(x, display, kid, title))
    return found


def close_window(display_name: str, title: str) -> int:
    """Sends WM_DELETE_WINDOW to every top-level window titled ``title`` (what a title bar's
    close button makes the window manager send); returns how many got it."""
    x = _xlib()
    display = x.XOpenDisplay(display_name.encode())
    if not display:
        raise RuntimeError(f"cannot open X display {display_name}")
    try:
        windows = _windows_named(x, display, x.XDefaultRootWindow(display), title)
        protocols = x.XInternAtom(display, b"WM_PROTOCOLS", 0)
        delete = x.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
        for window in windows:
            event = _Event()
            event.message.type = _CLIENT_MESSAGE
            event.message.window = window
            event.message.message_type = protocols
            event.message.format = 32
            event.message.data[0] = delete
            event.message.data[1] = 0  # CurrentTime
            x.XSendEvent(display, window, 0, 0, ctypes.byref(event))
        x.XFlush(display)
        return len(windows)
    finally:
        x.XCloseDisplay(display)


def png_size(png: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
