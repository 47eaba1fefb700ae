"""The supervisor's own descriptors: the soft limit raised at start, shortages recognised."""

from __future__ import annotations

import errno
import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from voice_sidecar.supervisor.probes import http_status
from voice_sidecar.supervisor.resources import ProbeInconclusiveError, is_resource_shortage

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptor limits")


def _limited(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    """Issue 15.1: `up` kept the usual soft limit of 1,024 descriptors although the hard limit
    allowed more."""
    code = (
        "import json, resource\n"
        "from voice_sidecar.supervisor.resources import raise_open_file_limit\n"
        "changed = raise_open_file_limit()\n"
        "print(json.dumps([changed, resource.getrlimit(resource.RLIMIT_NOFILE)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: _limited(256, 2048),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    changed, now = json.loads(out)
    assert changed == [256, 2048]
    assert now == [2048, 2048]


@pytest.mark.parametrize(
    ("error", "shortage"),
    [
        (OSError(errno.EMFILE, "Too many open files"), True),
        (OSError(errno.ENFILE, "Too many open files in system"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), False),
        (FileNotFoundError(errno.ENOENT, "missing"), False),
        (RuntimeError("wrapped"), False),
    ],
)
def test_is_resource_shortage(error: BaseException, shortage: bool) -> None:
    assert is_resource_shortage(error) is shortage
    outer = RuntimeError("outer")
    outer.__cause__ = error
    assert is_resource_shortage(outer) is shortage


async def test_a_probe_without_descriptors_is_inconclusive() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hoard = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        try:
            while True:
                hoard.append(Path("/dev/null").open("rb"))  # noqa: SIM115, ASYNC230
        except OSError:
            pass
        with pytest.raises(ProbeInconclusiveError):
            await http_status("127.0.0.1", 9)
    finally:
        for handle in hoard:
            handle.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
