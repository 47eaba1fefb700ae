"""What the real livekit-server accepts and exposes: the committed configurations, tokens,
debug endpoints, listening sockets, and what ``up`` does when the server or the agent dies.

Against the real binary (CI builds it: scripts/build-livekit-server.sh) and a real ``up``.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from livekit import api, rtc

from voice_sidecar.audio_files import read_speech
from voice_sidecar.bench.room_participant import RoomParticipant
from voice_sidecar.secret_store import LiveKitCredentials

from .conftest import SpeechFiles
from .livekit_fixtures import real_livekit_server
from .real_stack import RealStack, until

pytestmark = [pytest.mark.livekit_server, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
UNSHARE = shutil.which("unshare") or "unshare"
SS = shutil.which("ss") or "ss"
PROBE = """
import sys, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy in here
for _ in range(100):
    try:
        print(opener.open("http://127.0.0.1:7880/", timeout=1).read().decode())
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
"""


def _in_own_network(script: str, config: Path) -> subprocess.CompletedProcess[str]:
    """livekit-server with ``config`` in a network namespace of its own (only a loopback), so
    the Compose file's 0.0.0.0 and fixed ports touch nothing on this machine; then ``PROBE``."""
    binary = real_livekit_server()
    assert binary is not None
    shell = (
        "ip link set lo up; "
        f'"{binary}" --config "{config}" >server.log 2>&1 & server=$!; '
        f"{script}; status=$?; kill -9 $server 2>/dev/null; wait $server; code=$?; "
        'cat server.log >&2; echo "server exit $code" >&2; exit $status'
    )
    return subprocess.run(
        [UNSHARE, "--net", "sh", "-c", shell],
        env={**os.environ, "LIVEKIT_KEYS": "APIcompose: " + "s" * 40},
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


needs_netns = pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare for a network namespace",
)


@needs_netns
def test_the_compose_configuration_starts_the_real_server(tmp_path: Path) -> None:
    """docker/livekit.yaml is valid to the server itself: it parses config strictly (an unknown
    key stops it), so a start that answers HTTP proves every key and value."""
    config = tmp_path / "livekit.yaml"
    shutil.copy(REPO / "docker" / "livekit.yaml", config)
    started = _in_own_network(f"\"{sys.executable}\" -c '{PROBE}'", config)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "OK"
    # the control: a key the server does not know fails the same start
    broken = tmp_path / "broken" / "livekit.yaml"
    broken.parent.mkdir()
    broken.write_text(config.read_text() + "no_such_key: 1\n")
    refused = _in_own_network(f"\"{sys.executable}\" -c '{PROBE}'", broken)
    assert refused.returncode != 0
    assert "could not parse config" in refused.stderr


# -- the running stack ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    with RealStack.running(tmp_path_factory.mktemp("server-stack")) as running:
        yield running


def _credentials(stack: RealStack) -> LiveKitCredentials:
    """This run's LiveKit key pair (``up`` makes one per run), as the agent worker received it:
    from its environment, the only place it is handed over."""
    raw = Path(f"/proc/{stack.service_pid('agent')}/environ").read_bytes()
    environ = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    key, secret = environ[b"LIVEKIT_API_KEY"].decode(), environ[b"LIVEKIT_API_SECRET"].decode()
    assert len(secret) >= 32
    return LiveKitCredentials(key, secret)


def _token(key: str, secret: str, *, ttl: datetime.timedelta) -> str:
    return (
        api.AccessToken(key, secret)
        .with_identity("intruder")
        .with_ttl(ttl)
        .with_grants(api.VideoGrants(room_join=True, room="pa-intruded"))
        .to_jwt()
    )


async def _connects(url: str, token: str) -> bool:
    room = rtc.Room()
    try:
        await room.connect(url, token, rtc.RoomOptions(auto_subscribe=False))
    except rtc.ConnectError:
        return False
    await room.disconnect()
    return True


async def test_the_server_refuses_foreign_and_expired_tokens(stack: RealStack) -> None:
    url = stack.ready["livekit_url"]
    credentials = _credentials(stack)
    hour = datetime.timedelta(hours=1)
    # the control: the installation's own key pair gets in
    assert await _connects(url, _token(credentials.api_key, credentials.api_secret, ttl=hour))
    assert not await _connects(url, _token(credentials.api_key, "x" * 40, ttl=hour))
    assert not await _connects(url, _token("APIother", "y" * 40, ttl=hour))
    expired = _token(
        credentials.api_key, credentials.api_secret, ttl=-datetime.timedelta(minutes=5)
    )
    assert not await _connects(url, expired)


def test_debug_endpoints_are_closed_and_no_dev_mode(stack: RealStack) -> None:
    port = stack.up.env["VOICE_SIDECAR_PORTS_LIVEKIT_HTTP"]
    for path in ("/debug/rooms", "/debug/goroutine", "/debug/pprof/"):
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5, trust_env=False)
        assert answer.status_code == 404, (path, answer.status_code)
    pid = stack.service_pid("livekit-server")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"--dev" not in argv
    assert b"--config" in argv


def _listening(pid: int) -> list[str]:
    """Local addresses of every listening TCP and bound UDP socket of one process (``ss``)."""
    out = subprocess.run(
        [SS, "-H", "-l", "-n", "-p", "-t", "-u"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return [line.split()[4] for line in out.splitlines() if f"pid={pid}," in line]


def test_every_socket_of_the_server_is_on_loopback(stack: RealStack) -> None:
    pid = stack.service_pid("livekit-server")
    addresses = _listening(pid)
    ports = {a.rsplit(":", 1)[1] for a in addresses}
    env = stack.up.env
    assert env["VOICE_SIDECAR_PORTS_LIVEKIT_HTTP"] in ports
    assert env["VOICE_SIDECAR_PORTS_LIVEKIT_RTC_UDP"] in ports
    assert env["VOICE_SIDECAR_PORTS_LIVEKIT_RTC_TCP"] not in ports, "up opens no ICE/TCP port"
    off_loopback = [a for a in addresses if not re.match(r"^127\.0\.0\.1:\d+$", a)]
    assert off_loopback == [], addresses
    # the supervisor (control API) and the agent worker (health) listen on loopback alone too
    for service_pid in (stack.up.proc.pid, stack.service_pid("agent")):
        listening = _listening(service_pid)
        assert listening
        assert all(a.startswith("127.0.0.1:") for a in listening), listening


# -- faults: kill -9 of a child mid-conversation (last in this module: they restart things) --


async def _talk(stack: RealStack, speech: SpeechFiles, question: str) -> float:
    """One question in a new session; the seconds until its answer was heard."""
    started = time.monotonic()
    participant = await stack.join()
    try:
        spoken = await participant.say(read_speech(speech(question)))
        assert await until(
            lambda: participant.agent_audio.first_loud_after(spoken.speech_end_at) is not None,
            30,
        ), "no answer"
    finally:
        await participant.leave()
    return time.monotonic() - started


async def _session_when_ready(stack: RealStack, within_s: float) -> float:
    """Until ``POST /session`` succeeds and the agent joins the room: when the user can talk."""
    started = time.monotonic()
    deadline = started + within_s
    while time.monotonic() < deadline:
        try:
            participant = await stack.join()
        except (httpx.HTTPError, TimeoutError, rtc.ConnectError):
            await asyncio.sleep(0.2)
            continue
        await participant.leave()
        return time.monotonic() - started
    raise AssertionError(f"no usable session within {within_s} s: {stack.up.events[-6:]}")


async def _mid_reply(stack: RealStack, speech: SpeechFiles) -> RoomParticipant:
    """A participant in a room whose agent is in the middle of a long reply."""
    stack.llm.behaviour.replies[:] = ["Here is a long answer. " * 20]
    participant = await stack.join()
    spoken = await participant.say(read_speech(speech("Tell me a long story.")))
    assert await until(
        lambda: participant.agent_audio.first_loud_after(spoken.speech_end_at) is not None, 30
    )
    return participant


async def test_killed_livekit_server_is_restarted_and_the_next_session_works(
    stack: RealStack, speech: SpeechFiles
) -> None:
    participant = await _mid_reply(stack, speech)
    events_before = len(stack.up.events)
    old_pid = stack.kill("livekit-server")
    killed_at = time.monotonic()
    # the user's connection is gone with the server: the SDK reconnects, then gives up (the app
    # shows "reconnecting", then the disconnect)
    assert await until(
        lambda: participant.room.connection_state != rtc.ConnectionState.CONN_CONNECTED, 30
    )
    await participant.leave()
    stack.wait_service_state("livekit-server", "ready", 60, after=events_before)
    assert stack.service_pid("livekit-server") != old_pid
    usable_after = await _session_when_ready(stack, 60)
    print(
        f"kill -9 livekit-server -> a new session works after {time.monotonic() - killed_at:.2f} s"
    )
    assert usable_after > 0
    stack.llm.behaviour.replies.clear()
    assert await _talk(stack, speech, "What is the capital of France?") < 30


async def test_killed_agent_mid_reply_is_restarted_and_the_next_session_works(
    stack: RealStack, speech: SpeechFiles
) -> None:
    participant = await _mid_reply(stack, speech)
    events_before = len(stack.up.events)
    old_pid = stack.kill("agent")
    killed_at = time.monotonic()
    # the agent leaves the room (the server notices its connection is gone)
    assert await until(lambda: not participant.room.remote_participants, 40)
    await participant.leave()
    stack.wait_service_state("agent", "ready", 180, after=events_before)
    assert stack.service_pid("agent") != old_pid
    await _session_when_ready(stack, 60)
    print(f"kill -9 agent -> a new session works after {time.monotonic() - killed_at:.2f} s")
    stack.llm.behaviour.replies.clear()
    assert await _talk(stack, speech, "What is the capital of Spain?") < 30
