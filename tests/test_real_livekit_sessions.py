"""Several conversations at once in one real ``up`` stack: each keeps its own state, and a worker
at its capacity answers "the assistant is busy" instead of handing out a room no agent joins.

The stack runs with ``worker.max_conversations = 2`` (what a hosted worker would set from its
measured capacity; the desktop's default is no limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from voice_sidecar.audio_files import read_speech
from voice_sidecar.bench.room_participant import RoomParticipant
from voice_sidecar.testing.llm_server import RecordedRequest, echo_reply

from .conftest import SpeechFiles
from .real_stack import RealStack, until

pytestmark = [pytest.mark.livekit_server, pytest.mark.slow]

CAPACITY = 2

ROOMS: dict[str, dict[str, Any]] = {
    "ada": {
        "version": 1,
        "persona": {"name": "Ada", "instructions": "You are Ada, the first persona."},
        "history": [
            {"role": "user", "text": "My cat is called Mitten."},
            {"role": "assistant", "text": "Mitten is a lovely name."},
        ],
    },
    "bob": {
        "version": 1,
        "persona": {"name": "Bob", "instructions": "You are Bob, the second persona."},
        "history": [
            {"role": "user", "text": "My dog is called Rex."},
            {"role": "assistant", "text": "Rex is a strong name."},
        ],
    },
}
QUESTIONS = {
    "ada": ["What is the capital of France?", "Thank you very much."],
    "bob": ["How tall is the Eiffel tower?", "What time is it?"],
}
MARKS = {"ada": ("Ada", "Mitten"), "bob": ("Bob", "Rex")}
"""Each room's persona name and a word of its history: in its requests, never in the other's."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    with RealStack.running(
        tmp_path_factory.mktemp("sessions-stack"),
        VOICE_SIDECAR_WORKER_MAX_CONVERSATIONS=str(CAPACITY),
        VOICE_SIDECAR_LOGGING_LEVEL="info",  # the agent's Whisper queue line (bench/load.py)
    ) as running:
        running.llm.behaviour.reply = echo_reply
        yield running


async def _converse(
    participant: RoomParticipant, speech: SpeechFiles, questions: list[str], delay_s: float
) -> None:
    await asyncio.sleep(delay_s)
    for number, question in enumerate(questions, start=1):
        await participant.say(read_speech(speech(question)))
        assert await until(lambda n=number: len(participant.agent_text()) >= n, 40), (
            f"no answer to {question!r}: {participant.streams}"
        )
        await asyncio.sleep(0.5)


def _text(request: RecordedRequest) -> str:
    return " ".join(str(m.get("content")) for m in request.body["messages"])


async def test_two_rooms_at_once_never_see_each_others_state(
    stack: RealStack, speech: SpeechFiles
) -> None:
    """Two users talk at the same time, their turns interleaved: every LLM request carries one
    room's persona, history and turns and nothing of the other's; every transcript a user
    receives is their own. Guards against state shared across jobs of one worker process
    (jobs are threads sharing the models: a module-level chat context or persona would leak)."""
    before = len(stack.llm.chat_requests())
    ada = await stack.join(ROOMS["ada"])
    bob = await stack.join(ROOMS["bob"])
    try:
        assert ada.room.name != bob.room.name
        # Bob starts 1.2 s into Ada's first question: both turns are in flight together
        await asyncio.gather(
            _converse(ada, speech, QUESTIONS["ada"], 0.0),
            _converse(bob, speech, QUESTIONS["bob"], 1.2),
        )
    finally:
        await ada.leave()
        await bob.leave()

    # what each user's transcripts say they said (Whisper's words, whatever they are)
    said = {room: [t.strip() for t in p.user_text()] for room, p in (("ada", ada), ("bob", bob))}
    # two questions each; Whisper under load may hear one as two turns ("What?" + the rest)
    assert all(len(turns) >= 2 for turns in said.values()), said
    requests = stack.llm.chat_requests()[before:]
    per_room: dict[str, list[RecordedRequest]] = {"ada": [], "bob": []}
    for request in requests:
        text = _text(request)
        mine = [room for room, (name, _) in MARKS.items() if f"You are {name}" in text]
        assert len(mine) == 1, f"a request with {len(mine)} personas: {text}"
        room = mine[0]
        other = "bob" if room == "ada" else "ada"
        other_name, other_pet = MARKS[other]
        assert MARKS[room][1] in text, text
        assert other_pet not in text, f"{other}'s history leaked: {text}"
        assert other_name not in text, f"{other}'s persona leaked: {text}"
        per_room[room].append(request)
    assert len(per_room["ada"]) >= 2, per_room
    assert len(per_room["bob"]) >= 2, per_room
    for room, participant in (("ada", ada), ("bob", bob)):
        other = "bob" if room == "ada" else "ada"
        # the room's last request holds exactly its history and its own turns, in order
        users = [
            str(m["content"]).strip()
            for m in per_room[room][-1].body["messages"]
            if m["role"] == "user"
        ]
        assert users[0] == ROOMS[room]["history"][0]["text"], users
        assert " ".join(users[1:]) == " ".join(said[room]), (users, said)
        # and the user received only their own room's transcripts
        received = participant.user_text() + participant.agent_text()
        for turn in said[other]:
            assert not any(turn in text for text in received), f"{room} got {other}'s {turn!r}"
        identities = {s.identity for s in participant.streams}
        assert identities <= {
            participant.room.local_participant.identity,
            participant.agent_identity,
        }


async def _post_session(stack: RealStack) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        return await client.post(
            f"{stack.ready['control_url']}/session",
            json={"version": 1},
            headers={"Authorization": f"Bearer {stack.ready['token']}"},
        )


async def test_a_full_worker_answers_busy_and_takes_the_next_room_when_one_frees(
    stack: RealStack, speech: SpeechFiles
) -> None:
    """At ``max_conversations`` the worker reports full load to livekit-server (which then
    drops new dispatches), and ``POST /session`` says so in one line instead of handing out a
    room the user would wait in forever. Once a user leaves, the next session is served."""
    assert await _granted_within(stack, 15), "the rooms of the test before never closed"
    first = await stack.join()
    second = await stack.join()
    try:
        refused = await _post_session(stack)
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "assistant_busy", error
        assert error["message"].startswith("The assistant is busy"), error
        assert "\n" not in error["message"]
        # the worker told livekit-server it is full: its own status endpoint says load 1.0
        port = stack.up.env["VOICE_SIDECAR_PORTS_AGENT_HEALTH"]
        worker = httpx.get(f"http://127.0.0.1:{port}/worker", timeout=5, trust_env=False).json()
        assert worker.get("worker_load") == 1.0, worker
    finally:
        await second.leave()
    try:
        assert await _granted_within(stack, 15), "no room again after a user left"
        third = await stack.join()
        try:
            await third.say(read_speech(speech("What is the capital of Spain?")))
            assert await until(lambda: bool(third.agent_text()), 40), third.streams
        finally:
            await third.leave()
    finally:
        await first.leave()


async def _granted_within(stack: RealStack, within_s: float) -> bool:
    """``POST /session`` until it grants one (a granted session that is never joined costs
    nothing: the room is made when someone joins it)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if (await _post_session(stack)).status_code == 200:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_the_load_harness_reports_every_conversation_answered_at_k_2(
    stack: RealStack, speech: SpeechFiles
) -> None:
    """``bench-load`` at K = 2 (CI): the report's shape, and every turn of both conversations
    answered; the timings are figures for docs/benchmarks.md, not checked here."""
    from voice_sidecar.bench.load import load_reply, load_table, run_load

    assert await _granted_within(stack, 15), "the rooms of the test before never closed"
    stack.llm.behaviour.reply = load_reply
    try:
        report = await run_load(
            control_url=stack.ready["control_url"],
            token=stack.ready["token"],
            conversations=2,
            speak=lambda text: read_speech(speech(text)),
            agent_pid=stack.service_pid("agent"),
            log_file=stack.log_file,
        )
    finally:
        stack.llm.behaviour.reply = echo_reply
    print(load_table([report]))
    assert report["errors"] == [], report["errors"]
    assert report["asked"] == 8, report
    assert report["answered"] == report["asked"], report["rooms"]
    assert len({room["room"] for room in report["rooms"]}) == 2
    assert report["first_audio_s"]["n"] == 6
    assert report["barge_in_s"]["n"] == 2, report["rooms"]
    assert report["agent_stt_s"]["n"] >= 6
    assert report["whisper_queue"]["runs"] > 0, "no Whisper queue line in the agent's log"
    assert report["agent_cpu_s_per_conversation"] > 0
    assert report["agent_rss_mb_idle"] > 0
