import { act, renderHook, waitFor } from "@testing-library/react";

import type { SessionApi } from "./livekit";
import { SESSION_RESPONSE } from "./testing/fakeControlApi";
import { FakeRoom, flush, type FakeRemoteParticipant } from "./testing/fakeRoom";
import { useLiveKit } from "./useLiveKit";

describe("useLiveKit", () => {
  it("drives React state from the room's events and hands finals to onMessage", async () => {
    const room = new FakeRoom("user-1");
    const api: SessionApi = { createSession: vi.fn(() => Promise.resolve(SESSION_RESPONSE)) };
    const onMessage = vi.fn();
    const { result } = renderHook(() => useLiveKit({ api, onMessage, createRoom: () => room }));
    expect(result.current.connection).toBe("idle");
    await act(() => result.current.start({ version: 1 }));
    expect(result.current).toMatchObject({ connection: "connected", room: "pa-room-1", micPublished: true });
    let agent!: FakeRemoteParticipant;
    act(() => {
      agent = room.addAgent("agent-1", "listening");
    });
    expect(result.current.agentState).toBe("listening");
    act(() => {
      room.setAgentState(agent, "thinking");
    });
    expect(result.current.agentState).toBe("thinking");
    await act(async () => {
      room.transcription("user-1", "U9", true).push("Hi there").close();
      await flush();
    });
    expect(result.current.transcript).toHaveLength(1);
    expect(onMessage).toHaveBeenCalledWith(expect.objectContaining({ text: "Hi there", speaker: "user" }), {
      room: "pa-room-1",
      identity: "user-1",
    });
    await act(() => result.current.toggleMute());
    expect(result.current.micMuted).toBe(true);
  });

  it("waits for the API: a session requested before the sidecar is ready retries with the new API", async () => {
    vi.useFakeTimers();
    const room = new FakeRoom("user-1");
    const api: SessionApi = { createSession: vi.fn(() => Promise.resolve(SESSION_RESPONSE)) };
    const { result, rerender } = renderHook(
      ({ current }: { current: SessionApi | null }) =>
        useLiveKit({ api: current, createRoom: () => room, reconnect: { initialDelayMs: 100, factor: 1, maxDelayMs: 100, maxAttempts: 3 } }),
      { initialProps: { current: null as SessionApi | null } },
    );
    await act(() => result.current.start({ version: 1 }));
    expect(result.current.connection).toBe("reconnecting");
    rerender({ current: api });
    await act(() => vi.advanceTimersByTimeAsync(100));
    expect(result.current.connection).toBe("connected");
    vi.useRealTimers();
  });

  it("ends the conversation on unmount", async () => {
    const room = new FakeRoom("user-1");
    const api: SessionApi = { createSession: () => Promise.resolve(SESSION_RESPONSE) };
    const { result, unmount } = renderHook(() => useLiveKit({ api, createRoom: () => room }));
    await act(() => result.current.start({ version: 1 }));
    unmount();
    await waitFor(() => {
      expect(room.connected).toBe(false);
    });
  });
});
