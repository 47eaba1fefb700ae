"""A tiny supervisor for the kill -9 test: runs two test services and prints their pids."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from voice_sidecar.supervisor import ProcessSpawner, ServiceSpec, Supervisor
from voice_sidecar.supervisor.probes import http_status

SERVICE = str(Path(__file__).with_name("service.py"))


def probe_for(state: Path) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        try:
            port = json.loads(state.read_bytes())["port"]  # noqa: ASYNC240 - a tiny local file
        except (OSError, ValueError, KeyError):
            return False
        return await http_status("127.0.0.1", port, timeout_s=1.0) == 200

    return probe


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--no-parent-death-signal", action="store_true")
    parser.add_argument("--children-watch-stdin", action="store_true")
    parser.add_argument("--grandchild", choices=["plain", "setsid", "orphan"])
    args = parser.parse_args()
    child_args = ["--watch-stdin"] if args.children_watch_stdin else []
    if args.grandchild:
        child_args += ["--grandchild", args.grandchild]
    specs = []
    for name in ("first", "second"):
        state = args.state_dir / f"{name}.json"
        specs.append(
            ServiceSpec(
                name=name,
                argv=[sys.executable, SERVICE, "--state", str(state), *child_args],
                env=dict(os.environ),
                ready_probe=probe_for(state),
                ready_interval_s=0.05,
                ready_timeout_s=10.0,
            )
        )
    spawner = ProcessSpawner(parent_death_signal=not args.no_parent_death_signal)
    supervisor = Supervisor(specs, on_event=lambda event: None, spawner=spawner)
    await supervisor.start()
    pids = {name: status.pid for name, status in supervisor.status().items()}
    for name in ("first", "second"):
        state = json.loads((args.state_dir / f"{name}.json").read_text(encoding="utf-8"))
        for index, pid in enumerate(state["grandchildren"]):
            pids[f"{name}-grandchild-{index}"] = pid
    print(json.dumps(pids), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
