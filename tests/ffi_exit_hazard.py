"""A process that ends while a LiveKit callback still waits for the interpreter.

``python -m tests.ffi_exit_hazard plain|cli MARKER_DIR``: both start LiveKit's Rust runtime,
leave one of its callbacks sleeping (so it wants the interpreter back later) and keep the
interpreter's finalization busy for longer than that sleep, so the callback wakes while Python
finalizes: the moment that crashed ``converse`` in CI (see ``voice_sidecar.process_exit``).

``plain`` then exits like any script; ``cli`` runs ``voice-sidecar config path`` through the
real entry point. Both also leave an ``atexit`` handler and a foreground thread that write
files into MARKER_DIR, to show which parts of a normal exit still happen, and a thread pool
nobody shut down, whose idle workers a careless exit would wait for forever.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2 as proto_ffi

from voice_sidecar.cli import run

CALLBACK_SLEEP_S = 2.0
FINALIZATION_BUSY_S = 4.0


def leave_callback_in_flight() -> None:
    client = FfiClient.instance
    deliver = client.queue.put
    entered = threading.Event()

    def slow_put(event: proto_ffi.FfiEvent) -> None:
        entered.set()
        time.sleep(CALLBACK_SLEEP_S)  # gives up the interpreter, wants it back later
        deliver(event)

    client.queue.put = slow_put

    async def new_source() -> rtc.AudioSource:
        return rtc.AudioSource(48000, 1, queue_size_ms=1000)

    source = asyncio.run(new_source())
    frame = rtc.AudioFrame(np.zeros(480, dtype=np.int16).tobytes(), 48000, 1, 480)
    # a captured frame is acknowledged by a callback from LiveKit's audio thread
    request = proto_ffi.FfiRequest()
    request.capture_audio_frame.source_handle = source._ffi_handle.handle
    request.capture_audio_frame.buffer.CopyFrom(frame._proto_info())
    client.request(request)
    if not entered.wait(timeout=10):
        raise RuntimeError("LiveKit never acknowledged the captured frame")


class _SlowToFinalize:
    """Collected only by the interpreter's last garbage collection, which it then holds up."""

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self, sleep: object = time.sleep) -> None:
        sleep(FINALIZATION_BUSY_S)  # type: ignore[operator]


def leave_markers(marker_dir: Path) -> ThreadPoolExecutor:
    atexit.register((marker_dir / "atexit-ran").touch)

    def late_worker() -> None:
        time.sleep(0.3)
        (marker_dir / "thread-finished").touch()

    threading.Thread(target=late_worker, daemon=False).start()
    # an executor nobody shut down: its idle workers end only through threading's exit hooks
    idle_pool = ThreadPoolExecutor(max_workers=2)
    idle_pool.submit((marker_dir / "pool-used").touch).result()
    return idle_pool  # kept by the caller: a collected executor would let its workers go


def main() -> None:
    mode, marker_dir = sys.argv[1], Path(sys.argv[2])
    leave_callback_in_flight()
    gc.disable()
    _SlowToFinalize()
    idle_pool = leave_markers(marker_dir)
    if mode == "plain":
        print("plain exit", flush=False)
        sys.exit(0)
    sys.argv = ["voice-sidecar", "config", "path"]
    run()
    idle_pool.shutdown()  # never reached: run() ends the process


if __name__ == "__main__":
    main()
