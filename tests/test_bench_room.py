"""``bench --room``: the bench's scenarios through a real room (a real livekit-server and
``up``), reported beside the room-less figures. Timings are not checked here: the shape of
the report, that every turn was answered through the room, and the tree's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from voice_sidecar.bench.room_run import settings_env
from voice_sidecar.settings import Settings, SttSettings, TurnSettings
from voice_sidecar.settings_loader import load_settings

from .livekit_fixtures import real_livekit_server


def test_the_room_agent_gets_the_bench_settings(tmp_path: Path) -> None:
    """The agent in the room must run with what the room-less run used (flags included),
    or the two columns compare different pipelines."""
    mine = replace(
        Settings(),
        stt=SttSettings(model="tiny.en", language=None, beam_size=2),
        turn=TurnSettings(
            vad_min_silence_s=0.4, stt_segment_silence_s=None, preemptive_generation=False
        ),
    )
    loaded = load_settings(config_file=tmp_path / "none.toml", environ=settings_env(mine)).settings
    assert loaded.stt == mine.stt
    assert loaded.turn == mine.turn
    assert loaded.tts == mine.tts
    assert loaded.models == mine.models


@pytest.mark.livekit_server
@pytest.mark.slow
def test_bench_room_reports_both_runs_and_answers_every_turn(tmp_path: Path) -> None:
    binary = real_livekit_server()
    assert binary is not None
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "voice_sidecar",
            "bench",
            "--room",
            "--only",
            "short",
            # Piper's voice: the recordings would be fetched again into this test's empty
            # home (the hermetic home fixture drops VOICE_SIDECAR_REAL_SPEECH)
            "--speech",
            "synthetic",
            "--repetitions",
            "1",
            "--stt-rtf-models",
            "",
            "--stt-model",
            "tiny.en",
            "--json",
            str(out),
        ],
        env={**os.environ, "LIVEKIT_SERVER_BIN": str(binary)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| scenario | first audio, room | first audio, room-less |" in done.stdout
    assert "Memory of up's whole tree in a conversation" in done.stdout
    assert "The agent worker (the conversation process) in session 1: RSS" in done.stdout
    assert "room: short questions #1:" in done.stderr

    payload = json.loads(out.read_text(encoding="utf-8"))
    bare, room = payload["figures"], payload["room"]["figures"]
    assert list(room["scenarios"]) == list(bare["scenarios"]) == ["short questions"]
    turns = [t["turn"] for t in payload["room"]["turns"]]
    assert len(turns) == 3
    for turn in turns:
        assert turn["first_audio_latency_s"] is not None, f"not answered in the room: {turn}"
        assert turn["agent_e2e_s"] is not None, f"no latency report: {turn}"
        assert turn["user_messages"] == 1, turn
    assert room["overall"]["first_audio_latency_s"]["n"] == 3
    memory = room["overall"]["tree_memory"]
    names = {p["name"] for p in memory["processes"]}
    assert {"up", "agent", "livekit-server"} <= names, memory
    assert memory["rss_mb"] > 0
    agent = memory["agent"]
    assert agent["sessions"] == 1, agent  # one scenario, one repetition: one session
    assert agent["first"] == agent["last"] == agent["peak"], agent
    assert 0 < agent["first"]["rss_mb"] < memory["rss_mb"], agent
    if Path("/proc/self/smaps_rollup").exists():
        assert 0 < memory["pss_mb"] <= memory["rss_mb"], memory
