"""The desktop room in a real browser: Chromium on the dev page, against a real ``up`` stack.

The Tauri web view on Windows is WebView2 (Chromium); WebKitGTK on Linux has no WebRTC. So
Debian's Chromium, driven by playwright-core, joins through the dev page's own code (its
``?control_url&token`` form, ``POST /session``, livekit-client) with a fake microphone that
plays a WAV file (README, "The browser tests": what that microphone can and cannot do).
Page-side taps record the microphone and the agent's audio on one clock (e2e/audioTaps.js).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_sidecar.runtime import SpeechRuntime
from voice_sidecar.testing.llm_server import FakeLlmServer, LlmBehaviour, echo_reply

from .browser_support import (
    REQUIRED,
    Browser,
    BrowserStack,
    Recording,
    browser_missing,
    build_dev_page,
    microphone_wav,
    serve_folder,
)
from .conftest import SpeechFiles
from .speech import assert_heard

MISSING = browser_missing()
# where to copy the mid-conversation screenshot (the docs' image); read at import, as the
# hermetic_home fixture clears VOICE_SIDECAR_* variables before the tests run
SCREENSHOT_TO = os.environ.get("VOICE_SIDECAR_BROWSER_SCREENSHOT")
pytestmark = [
    pytest.mark.livekit_server,
    pytest.mark.slow,
    pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=str(MISSING)),
]

QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."
STORY = (
    "Once upon a time there was a lighthouse keeper who lived on a small island far out at sea. "
    "Every evening he climbed the long spiral stairs to light the great lamp. "
    "Ships from many countries passed by his island, and their sailors waved to him. "
    "One winter night a terrible storm came, and the lamp went dark. "
    "The keeper carried candles up the stairs, one by one, until the light shone again. "
    "In the morning the sailors thanked him, and the whole village sang his name."
)


def scripted_reply(messages: list[dict[str, object]]) -> str:
    said = echo_reply(messages).lower()
    if "story" in said:
        return STORY
    if "capital" in said:
        return ANSWER
    if "plus" in said or "+" in said:
        return "Four."
    return echo_reply(messages)


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if MISSING is not None:
        pytest.fail(f"VOICE_SIDECAR_BROWSER_TESTS=required, but {MISSING}")
    with serve_folder(build_dev_page(tmp_path_factory.mktemp("dev-page"))) as origin:
        yield origin


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlmServer]:
    server = FakeLlmServer(LlmBehaviour(reply=scripted_reply)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, page_origin: str, llm: FakeLlmServer
) -> Iterator[BrowserStack]:
    root = tmp_path_factory.mktemp("browser-stack")
    with BrowserStack.running(root, page_origin=page_origin, llm_base_url=llm.base_url) as s:
        yield s


@pytest.fixture
def browser() -> Iterator[Browser]:
    driver = Browser()
    yield driver
    driver.close()


def said(browser: Browser, who: str, words: str) -> bool:
    return any(w == who and words.lower() in text.lower() for w, text in browser.transcript())


def seconds(text: str) -> float:
    """A figure as formatSeconds writes it (``741 ms``, ``1.02 s``)."""
    value, unit = text.split()
    return float(value) / 1000 if unit == "ms" else float(value)


def test_a_question_spoken_in_the_page_is_answered_aloud_with_transcripts_and_latency(
    stack: BrowserStack,
    browser: Browser,
    speech: SpeechFiles,
    runtime: SpeechRuntime,
    tmp_path: Path,
) -> None:
    """The product's main path, end to end: the page's own join code, a WebRTC microphone,
    the agent's transcripts on text streams, its voice over WebRTC, latency on pa.latency;
    leaving ends the job."""
    mic = microphone_wav(tmp_path / "mic.wav", 1.0, speech(QUESTION), 30.0)
    browser.launch(mic, loop=False)
    browser.goto(stack.page_url)
    browser.click("Start conversation")

    browser.wait_until("the question in the transcript", lambda: said(browser, "You", QUESTION), 30)
    browser.wait_until(
        "the answer in the transcript", lambda: said(browser, "Assistant", ANSWER), 30
    )
    browser.wait_until("the answer spoken to its end", lambda: browser.status() == "Listening", 30)
    browser.wait_until("the latency view", lambda: browser.latency_text() is not None, 10)
    assert browser.transcript() == [("You", QUESTION), ("Assistant", ANSWER)]
    assert browser.count("audio") == 1, "the agent's audio element"

    # what the user heard: the agent's track as the page played it, transcribed back
    agent = browser.recording("agent")
    heard = runtime.whisper.transcribe(agent.samples, language="en", beam_size=1).text
    assert_heard(heard, ANSWER)

    # the latency view shows this turn: the agent's own end-to-end figure cannot exceed
    # what the page measured from the end of the question to the first agent audio
    latency = browser.latency_text() or ""
    shown = re.search(r"Last reply started (\d+(?:\.\d+)? m?s) after you stopped speaking", latency)
    assert shown, latency
    e2e = seconds(shown.group(1))
    for label in ("end of turn", "speech recognition", "LLM first token", "speech synthesis"):
        assert label in latency, latency
    heard_gap = first_reply_gap(browser.recording("mic"), agent)
    print(
        f"end of question -> first agent audio in the page {heard_gap:.3f} s, agent's e2e {e2e} s"
    )
    assert 0.1 < e2e <= heard_gap + 0.05, (e2e, heard_gap)

    screenshot = tmp_path / "voice-room-real-stack.png"
    browser.screenshot(screenshot)
    if SCREENSHOT_TO:
        shutil.copyfile(screenshot, SCREENSHOT_TO)

    # leaving: the page tears its room down, and the agent's job ends
    assert stack.active_jobs() == 1
    browser.click("Stop conversation")
    left = time.monotonic()
    browser.wait_until("the page left", lambda: browser.status() == "Not in a conversation", 5)
    assert browser.count("audio") == 0
    deadline = time.monotonic() + 40
    while stack.active_jobs() and time.monotonic() < deadline:
        time.sleep(0.25)
    print(f"leave -> job ended {time.monotonic() - left:.1f} s")
    assert stack.active_jobs() == 0, "the agent's job outlived the page's room"


def first_reply_gap(mic: Recording, agent: Recording) -> float:
    """Seconds from the end of the user's first utterance to the agent's first audio."""
    question = mic.loud_spans()[0]
    reply = next(start for start, _ in agent.loud_spans() if start > question[1])
    return reply - question[1]


def test_mute_in_the_page_stops_the_agent_hearing(
    stack: BrowserStack, browser: Browser, speech: SpeechFiles, llm: FakeLlmServer, tmp_path: Path
) -> None:
    """The question repeats (Chromium loops the file): muted, one whole repetition goes
    unheard; unmuted, the next one is answered."""
    mic = microphone_wav(tmp_path / "mic.wav", 0.5, speech(QUESTION), 5.5)
    browser.launch(mic)
    browser.goto(stack.page_url)
    browser.click("Start conversation")
    browser.wait_until("a first answer", lambda: said(browser, "Assistant", ANSWER), 30)
    browser.wait_until("the answer spoken", lambda: browser.status() == "Listening", 30)

    browser.click("Mute microphone")
    assert browser.pressed("Unmute microphone")
    assert browser.status() == "Muted"
    muted_at = browser.taps_now()
    asked = len(llm.chat_requests())
    messages = len(browser.transcript())
    # the page's own copy of the microphone (a clone the mute does not silence) shows one
    # whole question spoken while muted; then the agent's endpointing and Whisper get time
    browser.wait_until(
        "a question spoken while muted",
        lambda: any(s > muted_at and e + 0.3 < browser.taps_now() for s, e in spoken(browser)),
        20,
        every=0.5,
    )
    time.sleep(2.5)
    assert len(browser.transcript()) == messages, browser.transcript()
    assert len(llm.chat_requests()) == asked

    browser.click("Unmute microphone")
    assert browser.status() == "Listening"
    browser.wait_until(
        "the next question answered",
        lambda: browser.transcript()[messages:] == [("You", QUESTION), ("Assistant", ANSWER)],
        30,
    )
    browser.click("Stop conversation")


def spoken(browser: Browser) -> list[tuple[float, float]]:
    return browser.recording("mic").loud_spans()


# What this guards: that the user's voice, through Chromium's echo cancellation, noise
# suppression and gain control and WebRTC, interrupts the agent at all and promptly, rather
# than at the end of a sentence (the story's last 4-6 s each). The latency itself is the
# bench's (0.35 s, docs/benchmarks.md) and the Python room test's. Measured here: 0.50-0.59 s
# at load average ~2, 0.96-1.07 s at 4-6 (Chromium, livekit-server and the agent, whose
# Silero VAD waits for a core while Piper synthesises the story, share the 2 cores).
BARGE_IN_LIMIT_S = 1.5


def test_talking_over_the_reply_in_the_page_stops_the_agents_audio(
    stack: BrowserStack, browser: Browser, speech: SpeechFiles, tmp_path: Path
) -> None:
    """One file, played once: a question with a long answer, and 7 s later (well inside
    the answer) a second sentence over it."""
    interruption = "Stop. Wait a moment please."
    mic = microphone_wav(
        tmp_path / "mic.wav",
        1.0,
        speech("Please tell me a long story."),
        7.0,
        speech(interruption),
        15.0,
    )
    browser.launch(mic, loop=False)
    browser.goto(stack.page_url)
    browser.click("Start conversation")
    browser.wait_until(
        "the story begins", lambda: said(browser, "Assistant", "Once upon a time"), 30
    )
    browser.wait_until("the interruption heard", lambda: said(browser, "You", "wait a moment"), 30)

    mic_spans = browser.recording("mic").loud_spans()
    agent_spans = browser.recording("agent").loud_spans()
    story_start = agent_spans[0][0]
    barge = next(start for start, _ in mic_spans if start > story_start)
    talking = [span for span in agent_spans if span[0] <= barge < span[1] + 0.3]
    assert talking, f"the agent was not speaking when the user cut in: {agent_spans}, {barge}"
    stopped = talking[0][1] - barge
    print(f"barge-in in the page: agent audio stopped {stopped:.3f} s after the user started")
    assert stopped < BARGE_IN_LIMIT_S
    # the transcript keeps what was said before the cut, not the whole story
    story = next(text for who, text in browser.transcript() if who == "Assistant")
    assert STORY.startswith(story.rstrip()), story
    assert len(story) < len(STORY) / 2, story
    browser.click("Stop conversation")


def test_leaving_and_rejoining_ten_times_each_gets_an_answer_and_leaves_nothing(
    stack: BrowserStack, browser: Browser, speech: SpeechFiles, tmp_path: Path
) -> None:
    """Stop and Start as a user does, ten times in one page: every session is answered; at
    the end no job or audio element is left over, and the worker holds no more threads or
    file descriptors than after the first session (which starts its pools)."""
    import psutil

    # a short question and answer, repeated every 3.5 s (Chromium loops the file)
    mic = microphone_wav(tmp_path / "mic.wav", 0.3, speech("What is two plus two?"), 2.0)
    browser.launch(mic)
    browser.goto(stack.page_url)
    worker = psutil.Process(stack.service_pid("agent"))
    answered: list[float] = []
    threads = fds = 0
    for session in range(10):
        started = time.monotonic()
        browser.click("Start conversation")
        browser.wait_until("an answer", lambda: said(browser, "Assistant", "Four."), 30)
        answered.append(time.monotonic() - started)
        browser.click("Stop conversation")
        browser.wait_until("left", lambda: browser.status() == "Not in a conversation", 5)
        if session == 0:
            browser.wait_until("the first job ended", lambda: stack.active_jobs() == 0, 30)
            threads, fds = worker.num_threads(), worker.num_fds()
    print("start -> answer per session (s):", [round(s, 1) for s in answered])
    browser.wait_until("every job ended", lambda: stack.active_jobs() == 0, 30)
    assert browser.count("audio") == 0
    assert worker.is_running()
    print(f"worker threads {threads} -> {worker.num_threads()}, fds {fds} -> {worker.num_fds()}")
    assert worker.num_threads() <= threads + 2
    assert worker.num_fds() <= fds + 5


# ---- faults: last in this module, as each one kills part of the shared stack ----


def test_a_killed_livekit_server_shows_reconnecting_and_the_conversation_goes_on(
    stack: BrowserStack, browser: Browser, speech: SpeechFiles, tmp_path: Path
) -> None:
    """kill -9 of livekit-server mid-conversation: up restarts it, the page says it is
    reconnecting (it said "Listening" for 5 s before the kit followed signalReconnecting),
    livekit-client rejoins, and the agent answers the next question."""
    mic = microphone_wav(tmp_path / "mic.wav", 0.5, speech(QUESTION), 5.5)
    browser.launch(mic)
    browser.goto(stack.page_url)
    browser.click("Start conversation")
    browser.wait_until("a first answer", lambda: said(browser, "Assistant", ANSWER), 30)
    answers = sum(who == "Assistant" for who, _ in browser.transcript())

    os.kill(stack.service_pid("livekit-server"), signal.SIGKILL)
    killed = time.monotonic()
    shown = browser.wait_until(
        "the page showing it reconnects", lambda: browser.status() == "Reconnecting…", 3, every=0.05
    )
    seen = [(0.0, browser.status())]

    def agent_back() -> bool:
        status = browser.status()
        if status != seen[-1][1]:
            seen.append((round(time.monotonic() - killed, 2), status))
        return status in ("Listening", "Thinking", "Speaking")

    browser.wait_until("the agent back", agent_back, 30, every=0.05)
    can_talk = time.monotonic() - killed
    print("page status after the kill (s):", seen)
    browser.wait_until(
        "an answer after the restart",
        lambda: sum(w == "Assistant" and t == ANSWER for w, t in browser.transcript()) > answers,
        40,
    )
    print(
        f"livekit-server kill -9: 'Reconnecting…' after {shown:.2f} s, the agent back after "
        f"{can_talk:.2f} s, next answer after {time.monotonic() - killed:.1f} s"
    )
    restarted = [e for e in stack.events() if e.get("service") == "livekit-server"]
    assert any(e["state"] == "restarting" for e in restarted), restarted
    browser.click("Stop conversation")


def test_a_killed_agent_worker_shows_the_agent_gone_and_a_new_session_answers(
    stack: BrowserStack, browser: Browser, speech: SpeechFiles, tmp_path: Path
) -> None:
    """kill -9 of the agent worker mid-reply: up restarts it; the page stops showing
    "Speaking" once livekit-server reports the agent's connection lost (it showed it for the
    21 s the server kept the dead participant), then asks for a new session by itself, which
    the restarted worker answers."""
    mic = microphone_wav(tmp_path / "mic.wav", 0.5, speech("Please tell me a long story."), 6.0)
    browser.launch(mic)
    browser.goto(stack.page_url)
    browser.click("Start conversation")
    browser.wait_until("the story told", lambda: browser.status() == "Speaking", 30)
    stories = sum(t.startswith("Once upon a time") for _, t in browser.transcript())

    os.kill(stack.service_pid("agent"), signal.SIGKILL)
    killed = time.monotonic()
    gone = browser.wait_until(
        "the page showing the agent gone",
        lambda: browser.status() not in ("Speaking", "Thinking", "Listening"),
        20,
        every=0.1,
    )
    browser.wait_until(
        "a story told in a new session",
        lambda: sum(t.startswith("Once upon a time") for _, t in browser.transcript()) > stories,
        60,
    )
    print(
        f"agent worker kill -9: agent shown gone after {gone:.1f} s, "
        f"answered in a new session after {time.monotonic() - killed:.1f} s"
    )
    assert any(e.get("service") == "agent" and e["state"] == "restarting" for e in stack.events())
    assert stack.active_jobs() == 1, "the new session's job, and no other"
    browser.click("Stop conversation")
    browser.wait_until("the job ended", lambda: stack.active_jobs() == 0, 30)
