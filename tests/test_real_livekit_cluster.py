"""Two livekit-server nodes sharing a Redis (LiveKit's multi-node mode), on loopback: the user
joins node A, the only agent worker is registered with node B, and the conversation works end
to end (dispatch and signalling cross between the nodes through Redis). Then node A stops: its
user is disconnected, and node B goes on serving new rooms with the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit import rtc

from voice_sidecar.audio_files import read_speech
from voice_sidecar.bench.room_participant import RoomParticipant
from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour

from .conftest import SpeechFiles
from .livekit_cluster import Node, Redis, Worker
from .real_stack import until

pytestmark = [pytest.mark.livekit_server, pytest.mark.redis, pytest.mark.slow]


@dataclass
class TwoNodes:
    redis: Redis
    a: Node
    b: Node
    worker: Worker
    llm: FakeLlmServer
    folder: Path


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    folder = tmp_path_factory.mktemp("two-nodes")
    llm = FakeLlmServer(LlmBehaviour()).start()
    started: list[Node] = []
    try:
        with Redis.running(folder / "redis") as redis:
            started.append(Node.start(folder, "node-a", redis=redis))
            started.append(Node.start(folder, "node-b", redis=redis))
            a, b = started
            worker = Worker.start(folder, "worker-b", b, llm_base_url=llm.base_url)
            try:
                worker.wait_registered()
                yield TwoNodes(redis, a, b, worker, llm, folder)
            finally:
                worker.stop()
    finally:
        for node in started:
            node.stop()
        llm.stop()


async def _converse(participant: RoomParticipant, speech: SpeechFiles, question: str) -> float:
    spoken = await participant.say(read_speech(speech(question)))
    assert await until(lambda: bool(participant.agent_text()), 40), participant.streams
    first = participant.agent_audio.first_loud_after(spoken.speech_end_at)
    assert first is not None, "a transcript but no audio"
    return first - spoken.speech_end_at


async def test_user_on_node_a_is_served_by_the_worker_on_node_b_and_b_outlives_a(
    nodes: TwoNodes, speech: SpeechFiles
) -> None:
    assert "node-a" in nodes.a.name
    user = await nodes.a.join()  # the agent's audio track arrives: it was dispatched across
    try:
        heard_s = await _converse(user, speech, "What is the capital of France?")
        assert user.user_text(), user.streams
        assert all(text.startswith("You said:") for text in user.agent_text())
        assert nodes.worker.open_conversations() == 1
        # node A goes away: its user is cut off (the SDK retries the same URL and gives up)
        nodes.a.stop()
        stopped_at = time.monotonic()
        assert await until(
            lambda: user.room.connection_state != rtc.ConnectionState.CONN_CONNECTED, 60
        ), "the user stayed connected to a stopped node"
        cut_off_s = time.monotonic() - stopped_at
    finally:
        await user.leave()
    # the worker and node B go on
    assert nodes.worker.proc.poll() is None
    assert nodes.b.healthy()
    second = await nodes.b.join()
    try:
        heard_b_s = await _converse(second, speech, "What is the capital of Spain?")
    finally:
        await second.leave()
    # the lost room was re-created on node B by the agent's own reconnect and got a new
    # dispatch; with no user there, that job ends by itself (NO_USER_TIMEOUT_S) and stops
    # counting: the worker is neither full nor kept from draining by rooms nobody is in
    assert await until(lambda: nodes.worker.open_conversations() == 0, 45), (
        "a job in a room no user joined kept counting"
    )
    print(
        f"two nodes: answer heard {heard_s:.2f} s after the user on node A stopped speaking; "
        f"node A stopped: its user cut off after {cut_off_s:.2f} s; "
        f"node B then served a new room (answer after {heard_b_s:.2f} s)"
    )
