"""The full stack through a real livekit-server: runs wherever one is installed.

Skipped (with the reason) on machines without the binary; see README, Test.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from voice_sidecar.audio_files import read_speech
from voice_sidecar.testing.llm_server import FakeLlmServer

from .conftest import SpeechFiles
from .livekit_fixtures import real_livekit_server
from .up_support import start_up, up_env

pytestmark = [pytest.mark.livekit_server, pytest.mark.slow]


async def test_a_participant_talks_to_the_agent(
    tmp_path: Path, speech: SpeechFiles, llm_server: FakeLlmServer
) -> None:
    import httpx2 as httpx
    from livekit import rtc

    binary = real_livekit_server()
    assert binary is not None
    env = up_env(
        tmp_path, LIVEKIT_SERVER_BIN=str(binary), VOICE_SIDECAR_LLM_BASE_URL=llm_server.base_url
    )
    up = start_up(env)
    try:
        ready = await asyncio.to_thread(up.next_event, "ready", 180)
        async with httpx.AsyncClient(timeout=10) as client:
            session = await client.post(
                f"{ready['control_url']}/session",
                json={"version": 1, "persona": {"name": "Ada"}},
                headers={"Authorization": f"Bearer {ready['token']}"},
            )
        session.raise_for_status()
        room = rtc.Room()
        transcripts: list[tuple[str, str]] = []
        agent_audio = {"loud_frames": 0}
        tasks: set[asyncio.Future[None]] = set()

        def on_transcription(reader: rtc.TextStreamReader, identity: str) -> None:
            async def read() -> None:
                transcripts.append((identity, await reader.read_all()))

            tasks.add(asyncio.ensure_future(read()))

        room.register_text_stream_handler("lk.transcription", on_transcription)

        @room.on("track_subscribed")
        def on_track(track: rtc.Track, *_: object) -> None:
            if track.kind != rtc.TrackKind.KIND_AUDIO:
                return

            async def listen() -> None:
                async for event in rtc.AudioStream(track, sample_rate=16000, num_channels=1):
                    pcm = np.frombuffer(event.frame.data, dtype=np.int16)
                    if pcm.size and np.abs(pcm).max() > 1000:
                        agent_audio["loud_frames"] += 1

            tasks.add(asyncio.ensure_future(listen()))

        await room.connect(session.json()["livekit_url"], session.json()["token"])
        source = rtc.AudioSource(16000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
        await room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        question = read_speech(speech("What is the capital of France?"))
        silence = np.zeros(16000 * 8, dtype=np.float32)
        samples = (np.concatenate([np.zeros(8000, np.float32), question, silence]) * 32767).astype(
            np.int16
        )
        for start in range(0, len(samples), 160):
            chunk = samples[start : start + 160]
            frame = rtc.AudioFrame(chunk.tobytes(), 16000, 1, len(chunk))
            await source.capture_frame(frame)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            said = " ".join(text for who, text in transcripts if who != "desktop-user")
            if "You said" in said and agent_audio["loud_frames"] > 20:
                break
            await asyncio.sleep(0.2)
        await room.disconnect()
        user_said = " ".join(text for who, text in transcripts if who == "desktop-user").lower()
        assert "france" in user_said
        assert "You said" in " ".join(text for who, text in transcripts if who != "desktop-user")
        assert agent_audio["loud_frames"] > 20
    finally:
        if up.proc.stdin:
            up.proc.stdin.close()
        up.proc.wait(60)
