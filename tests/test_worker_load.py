"""The worker's conversation count as ``up`` reads it (the registration marker), and the load it
reports to livekit-server."""

from __future__ import annotations

import json
from pathlib import Path

from voice_sidecar.agent_worker import OpenConversations, conversation_load
from voice_sidecar.worker_registration import (
    RegistrationMarker,
    WorkerLoad,
    registered_at,
    worker_load,
)


def test_the_marker_carries_registration_and_conversations(tmp_path: Path) -> None:
    path = tmp_path / "agent-registration.json"
    marker = RegistrationMarker(path, capacity=2)
    conversations = OpenConversations(marker.conversations)
    conversations.opened()  # before registering: remembered, nothing written yet
    assert not path.exists()
    marker.registered("AW_1")
    first = registered_at(path)
    assert first is not None
    assert worker_load(path) == WorkerLoad(1, 2)
    conversations.opened()
    assert worker_load(path) == WorkerLoad(2, 2)
    assert worker_load(path).full  # type: ignore[union-attr]
    conversations.closed()
    conversations.closed()
    conversations.closed()  # a second close of one conversation never goes below zero
    assert worker_load(path) == WorkerLoad(0, 2)
    # a conversation changing never moves the registration time `up` compares with
    assert registered_at(path) == first
    assert json.loads(path.read_text())["worker_id"] == "AW_1"


def test_no_capacity_is_never_full_and_an_old_marker_says_nothing(tmp_path: Path) -> None:
    assert not WorkerLoad(50, 0).full
    assert WorkerLoad(3, 3).full
    assert not WorkerLoad(2, 3).full
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"worker_id": "AW_1", "registered_at": 1.0}))
    assert worker_load(old) is None
    assert worker_load(tmp_path / "missing.json") is None
    (tmp_path / "torn.json").write_text("{")
    assert worker_load(tmp_path / "torn.json") is None


def test_the_load_reported_is_the_share_of_conversations() -> None:
    assert conversation_load(0, 2) == 0.0
    assert conversation_load(1, 2) == 0.5
    assert conversation_load(2, 2) == 1.0
    assert conversation_load(5, 2) == 1.0
    assert conversation_load(7, 0) == 0.0
