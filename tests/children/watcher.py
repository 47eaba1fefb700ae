"""Runs watch_parent and writes what ended it (the parent-watch end-to-end tests)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from voice_sidecar.supervisor.parent_watch import watch_parent


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--stdin", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    watching = asyncio.ensure_future(
        watch_parent(args.parent_pid, watch_stdin=args.stdin, poll_interval_s=0.1)
    )
    await asyncio.sleep(0)  # the watch is armed
    args.out.write_text("watching\n", encoding="utf-8")
    reason = await watching
    args.out.write_text(f"watching\n{reason}\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
