import { ConnectionQuality, DisconnectReason } from "livekit-client";

import { ControlApiError } from "./controlApi";
import {
  AGENT_GONE_MS,
  LOOPBACK_RECONNECT_DELAYS_MS,
  MIC_CAPTURE_OPTIONS,
  VoiceSession,
  loopbackReconnectPolicy,
  parseLatency,
  type SessionApi,
} from "./livekit";
import type { SessionRequest, SessionResponse } from "./protocol";
import { FakeRemoteParticipant, FakeRoom, flush } from "./testing/fakeRoom";

const SESSION: SessionResponse = { livekit_url: "ws://127.0.0.1:7880", token: "lk-token", room: "pa-room-1", identity: "user-1" };
const RECONNECT = { initialDelayMs: 100, factor: 2, maxDelayMs: 1_000, maxAttempts: 3 };

function setup(api?: SessionApi, beforeConnect?: (room: FakeRoom) => void) {
  const rooms: FakeRoom[] = [];
  const requests: SessionRequest[] = [];
  const messages: { text: string; speaker: string; room: string }[] = [];
  const sessionApi: SessionApi = api ?? {
    createSession: (request) => {
      requests.push(request);
      return Promise.resolve(SESSION);
    },
  };
  const session = new VoiceSession({
    api: sessionApi,
    createRoom: () => {
      const room = new FakeRoom("user-1");
      room.beforeConnect = beforeConnect ?? null;
      rooms.push(room);
      return room;
    },
    onMessage: (m, s) => messages.push({ text: m.text, speaker: m.speaker, room: s.room }),
    reconnect: RECONNECT,
    logger: { warn: () => undefined },
  });
  return { session, rooms, requests, messages, room: () => rooms[rooms.length - 1]! };
}

describe("VoiceSession", () => {
  it("gets a session, joins, starts audio and publishes the microphone with AEC, NS and AGC", async () => {
    const t = setup();
    const request: SessionRequest = { version: 1, persona: { name: "Ada" }, history: [{ role: "user", text: "hi" }] };
    await t.session.start(request);
    expect(t.requests).toEqual([request]);
    expect(t.room().connects).toEqual([{ url: "ws://127.0.0.1:7880", token: "lk-token" }]);
    expect(t.room().audioStarted).toBe(true);
    expect(t.room().localParticipant.micCalls).toEqual([{ enabled: true, options: MIC_CAPTURE_OPTIONS }]);
    expect(MIC_CAPTURE_OPTIONS).toEqual({ echoCancellation: true, noiseSuppression: true, autoGainControl: true });
    expect(t.session.getState()).toMatchObject({ connection: "connected", room: "pa-room-1", micPublished: true });
  });

  it("follows lk.agent.state from the agent's attributes", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    expect(t.session.getState().agentState).toBeNull();
    const agent = t.room().addAgent("agent-1", "initializing");
    expect(t.session.getState().agentState).toBe("initializing");
    for (const state of ["listening", "thinking", "speaking", "listening"] as const) {
      t.room().setAgentState(agent, state);
      expect(t.session.getState().agentState).toBe(state);
    }
    t.room().removeParticipant(agent);
    expect(t.session.getState().agentState).toBeNull();
  });

  it("picks up an agent that was in the room before we joined", async () => {
    const t = setup(undefined, (room) => {
      const agent = new FakeRemoteParticipant("agent-0");
      agent.attributes = { "lk.agent.state": "listening" };
      room.remoteParticipants.set(agent.identity, agent);
    });
    await t.session.start({ version: 1 });
    expect(t.session.getState().agentState).toBe("listening");
  });

  it("assembles both sides' transcripts and hands each final message over once", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    const room = t.room();
    room.transcription("user-1", "U1", false).push("what time").close();
    await flush();
    expect(t.session.getState().transcript).toEqual([expect.objectContaining({ speaker: "user", text: "what time", final: false })]);
    room.transcription("user-1", "U1", true).push("What time is it?").close();
    const reply = room.transcription("agent-1", "A1", false, "TR_agent");
    reply.push("It is ");
    await flush();
    expect(t.session.getState().transcript[1]).toMatchObject({ speaker: "assistant", text: "It is ", final: false });
    reply.push("noon.").close({ "lk.transcription_final": "true" });
    await flush(10);
    expect(t.messages).toEqual([
      { text: "What time is it?", speaker: "user", room: "pa-room-1" },
      { text: "It is noon.", speaker: "assistant", room: "pa-room-1" },
    ]);
  });

  it("reads per-turn latency from pa.latency and ignores malformed objects", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    const latency = { end_of_turn_s: 0.55, stt_s: 0.39, llm_ttft_s: 0.21, llm_first_sentence_s: null, tts_ttfb_s: 0.08, e2e_s: 1.21 };
    t.room().openTextStream("pa.latency", "agent-1").push(JSON.stringify(latency).slice(0, 20)).push(JSON.stringify(latency).slice(20)).close();
    await flush(10);
    expect(t.session.getState().lastLatency).toEqual(latency);
    t.room().openTextStream("pa.latency", "agent-1").push('{"e2e_s": "fast"}').close();
    await flush(10);
    expect(t.session.getState().lastLatency).toEqual(latency);
  });

  it("plays the agent's audio and removes it when unsubscribed", async () => {
    const container = document.createElement("div");
    const t = setup();
    await t.session.stop();
    const session = new VoiceSession({
      api: { createSession: () => Promise.resolve(SESSION) },
      createRoom: () => {
        const r = new FakeRoom();
        t.rooms.push(r);
        return r;
      },
      audioContainer: () => container,
    });
    await session.start({ version: 1 });
    const agent = t.room().addAgent();
    const track = t.room().subscribeAudio(agent);
    expect(container.querySelectorAll("audio")).toHaveLength(1);
    t.room().emit("trackUnsubscribed", track, {}, agent);
    expect(container.querySelectorAll("audio")).toHaveLength(0);
  });

  it("mutes and unmutes the microphone", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    await t.session.setMuted(true);
    expect(t.session.getState().micMuted).toBe(true);
    await t.session.setMuted(false);
    expect(t.room().localParticipant.micCalls.map((c) => c.enabled)).toEqual([true, false, true]);
  });

  it.each([
    ["NotAllowedError", "mic_permission"],
    ["NotFoundError", "no_microphone"],
    ["NotReadableError", "mic_unavailable"],
  ])("reports a %s from getUserMedia as %s and stays in the room", async (name, kind) => {
    const t = setup(undefined, (room) => {
      room.localParticipant.micError = new DOMException("denied", name);
    });
    await t.session.start({ version: 1 });
    expect(t.session.getState()).toMatchObject({ connection: "connected", micPublished: false, error: { kind } });
    t.room().localParticipant.micError = null;
    await t.session.retryMicrophone();
    expect(t.session.getState()).toMatchObject({ micPublished: true, error: null });
  });

  it("reports a mediaDevicesError event from the room", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    t.room().emit("mediaDevicesError", new DOMException("denied", "NotAllowedError"), "audioinput");
    expect(t.session.getState().error?.kind).toBe("mic_permission");
  });

  it("shows livekit-client's own reconnection", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    t.room().emit("reconnecting");
    expect(t.session.getState().connection).toBe("reconnecting");
    t.room().emit("reconnected");
    expect(t.session.getState().connection).toBe("connected");
  });

  it("shows reconnecting while livekit-client resumes the signal link (a killed livekit-server)", async () => {
    // seen in Chromium against the real server: 5 s of signalReconnecting showed "Listening"
    const t = setup();
    await t.session.start({ version: 1 });
    t.room().addAgent("agent-1", "listening");
    t.room().emit("signalReconnecting");
    expect(t.session.getState().connection).toBe("reconnecting");
    t.room().emit("reconnected");
    expect(t.session.getState()).toMatchObject({ connection: "connected", agentState: "listening" });
  });

  it("after a full reconnect, shows the state of the agent that rejoined", async () => {
    const t = setup();
    await t.session.start({ version: 1 });
    const agent = t.room().addAgent("agent-1", "speaking");
    agent.attributes = { "lk.agent.state": "listening" };
    t.room().fullReconnect([agent]);
    expect(t.session.getState()).toMatchObject({ connection: "connected", agentState: "listening" });
  });

  it("shows the agent gone when livekit-server reports its connection lost, and back when it recovers", async () => {
    // a kill -9'd agent worker stayed "Speaking" for the 21 s the server kept its participant
    const t = setup();
    await t.session.start({ version: 1 });
    const agent = t.room().addAgent("agent-1", "speaking");
    t.room().setQuality(agent, ConnectionQuality.Lost);
    expect(t.session.getState().agentState).toBeNull();
    t.room().setAgentState(agent, "speaking"); // a stale update changes nothing while lost
    expect(t.session.getState().agentState).toBeNull();
    t.room().setQuality(agent, ConnectionQuality.Good);
    expect(t.session.getState().agentState).toBe("speaking");
  });

  it("resumes the loopback server's link sooner than livekit-client's defaults, without jitter, for as long", () => {
    const context = (retryCount: number) => ({ retryCount, elapsedMs: 0 });
    const delays = LOOPBACK_RECONNECT_DELAYS_MS.map((_, i) => loopbackReconnectPolicy.nextRetryDelayInMs(context(i)));
    expect(delays).toEqual(LOOPBACK_RECONNECT_DELAYS_MS);
    expect(delays.slice(0, 4)).toEqual([0, 300, 600, 1_000]);
    expect(loopbackReconnectPolicy.nextRetryDelayInMs(context(delays.length))).toBeNull();
    expect(LOOPBACK_RECONNECT_DELAYS_MS.reduce((sum, ms) => sum + ms, 0)).toBeGreaterThanOrEqual(35_000);
  });

  describe("with fake timers", () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it("reconnects with backoff after the room drops, sending the conversation so far as history", async () => {
      const t = setup();
      await t.session.start({ version: 1, history: [{ role: "assistant", text: "Earlier." }] });
      t.room().transcription("user-1", "U1", true).push("Hello").close();
      await flush(10);
      const first = t.room();
      first.drop(DisconnectReason.SERVER_SHUTDOWN);
      expect(t.session.getState()).toMatchObject({ connection: "reconnecting", retryAttempt: 1 });
      expect(first.listenerCount("disconnected")).toBe(0);
      expect(first.hasTextHandler("lk.transcription")).toBe(false);
      await vi.advanceTimersByTimeAsync(100);
      expect(t.rooms).toHaveLength(2);
      expect(t.requests[1]!.history).toEqual([
        { role: "assistant", text: "Earlier." },
        { role: "user", text: "Hello" },
      ]);
      expect(t.session.getState()).toMatchObject({ connection: "connected", retryAttempt: 0 });
    });

    it("requests a new session, with the conversation so far, when the agent left and none came back", async () => {
      // a crashed job never returns to its room: the restarted worker only takes new rooms
      const t = setup();
      await t.session.start({ version: 1 });
      const first = t.room();
      const agent = first.addAgent("agent-1", "listening");
      first.transcription("user-1", "U1", true).push("Hello").close();
      await flush(10);
      first.setQuality(agent, ConnectionQuality.Lost);
      await vi.advanceTimersByTimeAsync(AGENT_GONE_MS - 1);
      expect(t.rooms).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(first.connected).toBe(false);
      expect(t.session.getState()).toMatchObject({ connection: "reconnecting", retryAttempt: 1, agentState: null });
      await vi.advanceTimersByTimeAsync(100);
      expect(t.rooms).toHaveLength(2);
      expect(t.requests[1]!.history).toEqual([{ role: "user", text: "Hello" }]);
      expect(t.session.getState().connection).toBe("connected");
    });

    it("keeps the room when the agent comes back in time (livekit-client's full reconnect)", async () => {
      const t = setup();
      await t.session.start({ version: 1 });
      const agent = t.room().addAgent("agent-1", "listening");
      t.room().removeParticipant(agent);
      await vi.advanceTimersByTimeAsync(AGENT_GONE_MS / 2);
      t.room().fullReconnect([agent]);
      await vi.advanceTimersByTimeAsync(AGENT_GONE_MS * 2);
      expect(t.rooms).toHaveLength(1);
      expect(t.session.getState()).toMatchObject({ connection: "connected", agentState: "listening" });
    });

    it("waits for a first agent as long as it takes (the worker may still be starting)", async () => {
      const t = setup();
      await t.session.start({ version: 1 });
      await vi.advanceTimersByTimeAsync(AGENT_GONE_MS * 10);
      expect(t.rooms).toHaveLength(1);
      expect(t.session.getState()).toMatchObject({ connection: "connected", agentState: null });
    });

    it("gives up when every new session loses its agent before it answers", async () => {
      const t = setup();
      await t.session.start({ version: 1 });
      for (let i = 0; i <= RECONNECT.maxAttempts; i++) {
        t.room().removeParticipant(t.room().addAgent(`agent-${i}`, "listening"));
        await vi.advanceTimersByTimeAsync(AGENT_GONE_MS + RECONNECT.maxDelayMs);
      }
      expect(t.rooms).toHaveLength(RECONNECT.maxAttempts + 1);
      expect(t.session.getState()).toMatchObject({
        connection: "failed",
        error: { kind: "connection_lost", message: "The assistant keeps leaving the conversation." },
      });
    });

    it("retries an unreachable backend, then fails with backend_unreachable", async () => {
      const createSession = vi.fn(() => Promise.reject(new ControlApiError(0, "unreachable", "down")));
      const t = setup({ createSession });
      await t.session.start({ version: 1 });
      expect(t.session.getState()).toMatchObject({ connection: "reconnecting", retryAttempt: 1 });
      await vi.advanceTimersByTimeAsync(100 + 200 + 400);
      expect(createSession).toHaveBeenCalledTimes(4);
      expect(t.session.getState()).toMatchObject({ connection: "failed", error: { kind: "backend_unreachable" } });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(createSession).toHaveBeenCalledTimes(4);
    });

    it("retries a failed LiveKit connect", async () => {
      let refusals = 1;
      const t = setup(undefined, (room) => {
        if (refusals-- > 0) room.connectError = new Error("could not establish signal connection");
      });
      await t.session.start({ version: 1 });
      expect(t.session.getState().connection).toBe("reconnecting");
      await vi.advanceTimersByTimeAsync(100);
      expect(t.session.getState().connection).toBe("connected");
    });

    it("does not retry a refused session request (4xx)", async () => {
      const createSession = vi.fn(() => Promise.reject(new ControlApiError(422, "invalid_persona", "persona.voice is unknown")));
      const t = setup({ createSession });
      await t.session.start({ version: 1 });
      expect(t.session.getState()).toMatchObject({
        connection: "failed",
        error: { kind: "session_refused", message: "persona.voice is unknown" },
      });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(createSession).toHaveBeenCalledTimes(1);
    });

    it("does not retry on its own when the assistant is busy (503 assistant_busy)", async () => {
      const createSession = vi.fn(() =>
        Promise.reject(new ControlApiError(503, "assistant_busy", "The assistant is busy with other conversations")),
      );
      const t = setup({ createSession });
      await t.session.start({ version: 1 });
      expect(t.session.getState()).toMatchObject({
        connection: "failed",
        error: { kind: "assistant_busy", message: "The assistant is busy with other conversations" },
      });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(createSession).toHaveBeenCalledTimes(1);
    });

    it("stops without reconnecting, also while a retry is pending", async () => {
      const t = setup();
      await t.session.start({ version: 1 });
      await t.session.stop();
      expect(t.session.getState()).toMatchObject({ connection: "idle", agentState: null });
      expect(t.room().connected).toBe(false);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(t.rooms).toHaveLength(1);

      await t.session.start({ version: 1 });
      t.room().drop();
      await t.session.stop();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(t.rooms).toHaveLength(2);
      expect(t.session.getState().connection).toBe("idle");
    });
  });
});

describe("parseLatency", () => {
  it.each([
    ['{"e2e_s": 1.2}', { end_of_turn_s: null, stt_s: null, llm_ttft_s: null, llm_first_sentence_s: null, tts_ttfb_s: null, e2e_s: 1.2 }],
    ["not json", null],
    ["[1]", null],
    ['{"stt_s": "0.3"}', null],
  ])("%s", (text, expected) => {
    expect(parseLatency(text)).toEqual(expected);
  });
});
