"""A small service for the supervisor tests: answers a health check on 127.0.0.1 and
misbehaves on request (crash, hang, ignore SIGTERM, start grandchildren)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# sleeps, ignoring SIGTERM; bounded so that a failed test cannot leave it forever
GRANDCHILD = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
ORPHAN_MAKER = (
    "import subprocess,sys; "
    f"p = subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}], start_new_session=True, "
    "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(p.pid, flush=True)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--crash-after", type=float)
    parser.add_argument("--hang-after", type=float)
    parser.add_argument("--once", type=Path, help="misbehave only if this file is absent")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--grandchild", choices=["plain", "setsid", "orphan"])
    parser.add_argument("--watch-stdin", action="store_true")
    parser.add_argument("--say")
    args = parser.parse_args()

    misbehave = True
    if args.once is not None:
        misbehave = not args.once.exists()
        args.once.touch()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.say:
        print(args.say, flush=True)
        print(f"{args.say} (stderr)", file=sys.stderr, flush=True)

    hang_at = None
    if misbehave and args.hang_after is not None:
        hang_at = time.monotonic() + args.hang_after
    port = serve_health(hang_at)
    grandchildren = start_grandchild(args.grandchild) if args.grandchild else []
    write_state(args.state, {"pid": os.getpid(), "port": port, "grandchildren": grandchildren})

    if misbehave and args.crash_after is not None:
        time.sleep(args.crash_after)
        os._exit(3)
    if args.watch_stdin:
        import asyncio

        from voice_sidecar.supervisor.parent_watch import watch_parent

        asyncio.run(watch_parent(watch_stdin=True))
        return
    while True:
        time.sleep(3600)


def serve_health(hang_at: float | None) -> int:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            connection, _ = server.accept()
            if hang_at is not None and time.monotonic() >= hang_at:
                held.append(connection)  # accepted, never answered: a wedged server
                continue
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass

    threading.Thread(target=loop, daemon=True).start()
    return int(server.getsockname()[1])


def start_grandchild(kind: str) -> list[int]:
    if kind == "orphan":  # double fork: the grandchild leaves our tree and our group
        maker = subprocess.run(
            [sys.executable, "-c", ORPHAN_MAKER], capture_output=True, text=True, check=True
        )
        return [int(maker.stdout.split()[0])]
    grandchild = subprocess.Popen(
        [sys.executable, "-c", GRANDCHILD], start_new_session=kind == "setsid"
    )
    return [grandchild.pid]


def write_state(path: Path, state: dict[str, object]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state), encoding="utf-8")
    temporary.replace(path)


if __name__ == "__main__":
    main()
