"""Two agent workers registered with one real livekit-server, as a hosted deployment runs them:
LiveKit's own dispatch picks the worker by the load each reports (``worker.max_conversations``
is 1 here, so a worker with a conversation is full), and a worker killed mid-conversation is
noticed by its room and replaced by the survivor for new rooms.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit import api

from voice_sidecar.audio_files import read_speech
from voice_sidecar.bench.room_participant import RoomParticipant
from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour

from .conftest import SpeechFiles
from .livekit_cluster import CREDENTIALS, Node, Worker
from .real_stack import until

pytestmark = [pytest.mark.livekit_server, pytest.mark.slow]

LONG_REPLY = "Here is a long answer, so that there is time to do things while it plays. " * 12


@dataclass
class Cluster:
    node: Node
    workers: list[Worker]
    llm: FakeLlmServer
    folder: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("workers")
    llm = FakeLlmServer(LlmBehaviour()).start()
    node = Node.start(folder, "node-a")
    workers: list[Worker] = []
    try:
        workers = [
            Worker.start(folder, name, node, llm_base_url=llm.base_url, max_conversations=1)
            for name in ("worker-1", "worker-2")
        ]
        for worker in workers:
            worker.wait_registered()
        yield Cluster(node, workers, llm, folder)
    finally:
        for worker in workers:
            worker.stop()
        node.stop()
        llm.stop()


def _holding(cluster: Cluster) -> list[Worker]:
    return [w for w in cluster.workers if w.proc.poll() is None and w.open_conversations() > 0]


async def _answered(participant: RoomParticipant, speech: SpeechFiles, question: str) -> None:
    spoken = await participant.say(read_speech(speech(question)))
    assert await until(
        lambda: participant.agent_audio.first_loud_after(spoken.speech_end_at) is not None, 40
    ), f"no answer to {question!r}"


async def _participants(node: Node, room: str) -> list[str]:
    async with api.LiveKitAPI(
        f"http://127.0.0.1:{node.ports.http}", CREDENTIALS.api_key, CREDENTIALS.api_secret
    ) as lk:
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return [p.identity for p in listed.participants]


async def test_rooms_go_to_the_worker_with_room_and_a_killed_worker_is_replaced(
    cluster: Cluster, speech: SpeechFiles
) -> None:
    first = await cluster.node.join()
    try:
        assert await until(lambda: len(_holding(cluster)) == 1, 10), "no worker counts room 1"
        (busy,) = _holding(cluster)
        (spare,) = [w for w in cluster.workers if w is not busy]
        # the second room goes to the worker with room to spare: the busy one reports load 1.0
        second = await cluster.node.join()
        try:
            assert await until(lambda: spare.open_conversations() == 1, 10)
            assert busy.open_conversations() == 1
            await _answered(second, speech, "What is the capital of France?")
        finally:
            await second.leave()
        assert await until(lambda: spare.open_conversations() == 0, 10)

        # kill -9 the first room's worker in the middle of a reply
        cluster.llm.behaviour.replies[:] = [LONG_REPLY]
        await _answered(first, speech, "Tell me a long story.")
        busy.kill()
        killed_at = time.monotonic()
        assert await until(lambda: first.agent_left_at is not None, 40), "the room never knew"
        assert first.agent_left_at is not None
        noticed_s = first.agent_left_at - killed_at
        # nothing half-open: livekit-server holds only the user in that room now
        assert await _participants(cluster.node, first.room.name) == [
            first.room.local_participant.identity
        ]
    finally:
        await first.leave()
    print(f"kill -9 of a worker mid-reply: its room saw the agent leave after {noticed_s:.2f} s")

    # a new room goes to the survivor, which answers
    cluster.llm.behaviour.replies.clear()
    started = time.monotonic()
    third = await cluster.node.join()
    try:
        assert spare.open_conversations() == 1 or await until(
            lambda: spare.open_conversations() == 1, 10
        )
        await _answered(third, speech, "What is the capital of Spain?")
    finally:
        await third.leave()
    answered_s = time.monotonic() - started
    print(f"after the kill, the survivor answered a new room in {answered_s:.2f} s")


async def test_sigterm_drains_a_service_worker_it_finishes_its_conversation_and_takes_no_new_one(
    cluster: Cluster, speech: SpeechFiles
) -> None:
    """``voice-sidecar agent`` as a service (not under ``up``): SIGTERM marks it full with
    livekit-server, the conversation in progress goes on to its end, no new room gets it, and
    it exits once its last user has left. Without a conversation it stops at once."""
    for worker in cluster.workers:
        if worker.proc.poll() is None:
            stopping = time.monotonic()
            worker.proc.send_signal(signal.SIGTERM)
            assert worker.proc.wait(20) == 0, worker.log_text()[-2000:]
            took = time.monotonic() - stopping
            print(f"SIGTERM, no conversation: the worker stopped in {took:.2f} s")
    draining = Worker.start(
        cluster.folder, "worker-3", cluster.node, llm_base_url=cluster.llm.base_url
    )
    cluster.workers.append(draining)
    draining.wait_registered()
    user = await cluster.node.join()
    try:
        await _answered(user, speech, "What is the capital of France?")
        draining.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(2)
        assert draining.proc.poll() is None, "the worker stopped with a conversation open"
        # a new room: the only worker is draining, so no agent comes
        newcomer = RoomParticipant()
        await newcomer.connect(cluster.node.grant())
        try:
            assert not await until(lambda: newcomer.agent_identity is not None, 8), (
                "a draining worker took a new room"
            )
        finally:
            await newcomer.leave()
        # the open conversation goes on
        await _answered(user, speech, "What is the capital of Spain?")
        assert draining.proc.poll() is None
    finally:
        await user.leave()
    left_at = time.monotonic()
    assert await until(lambda: draining.proc.poll() is not None, 30), (
        "still running after the drain"
    )
    assert draining.proc.returncode == 0, draining.log_text()[-2000:]
    took = time.monotonic() - left_at
    print(f"SIGTERM while talking: the worker stopped {took:.2f} s after its user left")
    assert "draining" in draining.log_text()
