"""A W3C WebDriver client: the handful of commands the example app's tests send to tauri-driver.

Plain JSON over HTTP on 127.0.0.1 (the WebDriver protocol itself), so the tests need no
Selenium. Every call has a timeout; an error answer raises WebDriverError with the driver's
own error code and message.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

# the W3C element reference key
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{error} (HTTP {status}): {message}")
        self.error = error


# tauri-driver forwards each command over a pooled keep-alive connection to WebKitWebDriver;
# when WebKitWebDriver has just closed that connection, tauri-driver answers by dropping ours
# ("Connection reset by peer" in its log) and the command never reached the web view, so it
# is safe to send again.
_DROPPED_RETRIES = 3


def _request(method: str, url: str, body: Any = None, timeout: float = 60) -> Any:
    for attempt in range(_DROPPED_RETRIES + 1):
        try:
            return _request_once(method, url, body, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError):
            if attempt == _DROPPED_RETRIES:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _request_once(method: str, url: str, body: Any, timeout: float) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only (tauri-driver)
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = json.load(response)
    except urllib.error.HTTPError as exc:
        payload = json.load(exc)
        value = payload.get("value", {})
        raise WebDriverError(exc.code, value.get("error", "?"), value.get("message", "")) from None
    return payload.get("value")


class Session:
    """One WebDriver session: with tauri-driver, one run of the app."""

    def __init__(self, base_url: str, capabilities: dict[str, Any], timeout: float = 120) -> None:
        value = _request(
            "POST", f"{base_url}/session", {"capabilities": capabilities}, timeout=timeout
        )
        self.id: str = value["sessionId"]
        self.url = f"{base_url}/session/{self.id}"

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        return _request(method, self.url + path, body, timeout=timeout)

    def execute(self, script: str, *args: Any) -> Any:
        """Runs ``script`` as a function body in the page; its ``return`` value comes back."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def execute_async(self, script: str, *args: Any, timeout: float = 30) -> Any:
        """Like ``execute``; the script calls ``arguments[arguments.length - 1](value)``."""
        self._call("POST", "/timeouts", {"script": int(timeout * 1000)})
        return self._call(
            "POST",
            "/execute/async",
            {"script": script, "args": list(args)},
            timeout=timeout + 30,
        )

    def find(self, css: str) -> str | None:
        """The element matching ``css``, or None."""
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return found[0][ELEMENT_KEY] if found else None

    def text(self, element: str) -> str:
        return str(self._call("GET", f"/element/{element}/text"))

    def click(self, element: str) -> None:
        self._call("POST", f"/element/{element}/click", {})

    def type(self, element: str, text: str) -> None:
        self._call("POST", f"/element/{element}/value", {"text": text})

    def wait_for(self, css: str, timeout: float, *, text: str | None = None) -> str:
        """Waits for an element matching ``css`` (whose text contains ``text``); returns it."""
        found = self.wait_until(
            lambda: self._matching(css, text), timeout, f"{css} containing {text!r}"
        )
        return str(found)

    def wait_gone(self, css: str, timeout: float) -> None:
        self.wait_until(lambda: self.find(css) is None or None, timeout, f"{css} to go away")

    def _matching(self, css: str, text: str | None) -> str | None:
        element = self.find(css)
        if element is None or (text is not None and text not in self.text(element)):
            return None
        return element

    def wait_until(self, probe: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = probe()
            except WebDriverError as exc:
                if exc.error != "stale element reference":
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                page = self.execute("return document.body.innerText")
                raise AssertionError(f"waited {timeout} s for {what}; the page says:\n{page}")
            time.sleep(0.2)

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", "/screenshot"))

    def close_session(self) -> None:
        with contextlib.suppress(WebDriverError, OSError):  # the app is gone (closed, killed)
            self._call("DELETE", "", timeout=30)
