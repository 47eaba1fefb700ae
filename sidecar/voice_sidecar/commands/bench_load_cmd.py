"""``voice-sidecar bench-load``: the capacity of one worker, K conversations at once.

Starts a real ``voice-sidecar up`` (livekit-server and the agent worker, as the desktop runs
them) with a local LLM stand-in, then for each K runs K ``livekit.rtc`` participants, each in
its own room, speaking recorded turns at staggered times (``bench/load.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from voice_sidecar.errors import UserFacingError

from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "bench-load",
        help="K conversations at once against a real 'up' stack: first audio, barge-in, "
        "Whisper queueing, CPU and memory per conversation",
    )
    parser.add_argument("--conversations", default="1,2,3,4", help="the values of K, e.g. 1,2,3,4")
    parser.add_argument("--stagger", type=float, default=1.5, help="seconds between starts")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.set_defaults(handler=run_bench_load)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", port))  # the same number free for UDP too
    return port


def _ports() -> dict[str, str]:
    names = ("LIVEKIT_HTTP", "LIVEKIT_RTC_TCP", "LIVEKIT_RTC_UDP", "AGENT_HEALTH")
    chosen: list[int] = []
    while len(chosen) < len(names):
        try:
            port = _free_port()
        except OSError:
            continue
        if port not in chosen:
            chosen.append(port)
    return {f"VOICE_SIDECAR_PORTS_{n}": str(p) for n, p in zip(names, chosen, strict=True)}


def _read_events(proc: subprocess.Popen[str], until: str, timeout_s: float) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise UserFacingError("'up' stopped before it was ready; see its log")
        event = json.loads(line)
        events.append(event)
        if event.get("event") == "error" and event.get("fatal"):
            raise UserFacingError(f"'up' failed: {event.get('message')}")
        if event.get("event") == until:
            return events
    raise UserFacingError(f"'up' was not ready within {timeout_s:.0f} s")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


def run_bench_load(args: argparse.Namespace, context: CommandContext) -> int:
    from voice_sidecar.bench.load import load_reply, load_table, run_load
    from voice_sidecar.bench.scenarios import piper_speaker
    from voice_sidecar.runtime import SpeechRuntime
    from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour

    from .common import model_paths
    from .up_cmd import _child_args

    try:
        counts = [int(k) for k in args.conversations.split(",") if k.strip()]
    except ValueError:
        raise UserFacingError("--conversations takes numbers, e.g. 1,2,3,4") from None
    if not counts or min(counts) < 1:
        raise UserFacingError("--conversations takes numbers of 1 or more, e.g. 1,2,3,4")
    settings = context.settings
    runtime = SpeechRuntime.load(settings, model_paths(settings))  # the user's voice: Piper
    speak = piper_speaker(runtime.voice())
    llm = FakeLlmServer(LlmBehaviour(reply=load_reply)).start()
    state = Path(tempfile.mkdtemp(prefix="bench-load-"))
    log_file = state / "voice-sidecar.log"
    env = {
        **os.environ,
        **_ports(),
        "VOICE_SIDECAR_LLM_BASE_URL": llm.base_url,
        "VOICE_SIDECAR_LOGGING_LEVEL": "info",
        "VOICE_SIDECAR_LOGGING_FILE": str(log_file),
        "XDG_STATE_HOME": str(state),  # its own instance file: a running 'up' is left alone
    }
    proc = subprocess.Popen(
        # the settings of our command line (--set, --config, --models-dir) reach 'up' too
        [sys.executable, "-m", "voice_sidecar", *_child_args(args), "up"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    rows: list[dict[str, Any]] = []
    try:
        events = _read_events(proc, "ready", 240)
        ready = events[-1]
        # later events are read and dropped: a full pipe would stall 'up'
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        agent_pid = next(
            int(e["pid"])
            for e in reversed(events)
            if e.get("event") == "service" and e.get("service") == "agent" and e.get("pid")
        )
        for k in counts:
            print(f"K = {k}: {k} conversation(s) at once ...", file=sys.stderr)
            row = asyncio.run(
                run_load(
                    control_url=ready["control_url"],
                    token=ready["token"],
                    conversations=k,
                    speak=speak,
                    agent_pid=agent_pid,
                    log_file=log_file,
                    stagger_s=args.stagger,
                )
            )
            rows.append(row)
            time.sleep(3)  # the rooms of this K close before the next starts
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        llm.stop()
        runtime.close()
    print(load_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, default=str) + "\n", encoding="utf-8")
    return 0
