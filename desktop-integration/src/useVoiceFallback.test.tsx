import { renderHook } from "@testing-library/react";

import { stateAfter } from "./testing/sidecarStates";
import { useVoiceFallback } from "./useVoiceFallback";

describe("useVoiceFallback", () => {
  it("stays off while the sidecar starts or runs", () => {
    const onFallback = vi.fn();
    const { result } = renderHook(() => useVoiceFallback(stateAfter("normal-start"), onFallback, { webrtcSupported: true }));
    expect(result.current).toEqual({ active: false, reason: null, message: null, logFile: null });
    expect(onFallback).not.toHaveBeenCalled();
  });

  it("tells the app to use push-to-talk, and why, once per failure", () => {
    const failed = stateAfter("crash-loop", [
      { type: "exited", code: 7, signal: null },
      { type: "failed", reason: "service_fatal", message: "The speech agent crashed 3 times within 60 s; see the log." },
    ]);
    const onFallback = vi.fn();
    const { result, rerender } = renderHook(({ s }) => useVoiceFallback(s, onFallback, { webrtcSupported: true }), { initialProps: { s: failed } });
    expect(result.current).toEqual({
      active: true,
      reason: "service_fatal",
      message: "The speech agent crashed 3 times within 60 s; see the log.",
      logFile: "/home/u/.local/state/private-assistant/log/voice-sidecar.log",
    });
    rerender({ s: failed });
    expect(onFallback).toHaveBeenCalledOnce();
    expect(onFallback).toHaveBeenCalledWith(
      expect.objectContaining({ reason: "service_fatal", code: "service_fatal", logFile: expect.any(String) as unknown }),
    );
    rerender({ s: stateAfter("normal-start") });
    expect(result.current.active).toBe(false);
  });

  it("falls back when the sidecar cannot even be spawned", () => {
    const failed = stateAfter("normal-start", [], 0);
    const { result } = renderHook(() =>
      useVoiceFallback(
        { ...failed, phase: "failed", failure: { reason: "spawn_failed", code: null, message: "not allowed" } },
        undefined,
        { webrtcSupported: true },
      ),
    );
    expect(result.current).toMatchObject({ active: true, reason: "spawn_failed", logFile: null });
  });

  it("falls back when the web view has no WebRTC (some WebKitGTK builds)", () => {
    const onFallback = vi.fn();
    const { result } = renderHook(() => useVoiceFallback(stateAfter("normal-start"), onFallback));
    // jsdom has no RTCPeerConnection, like such a web view
    expect(result.current).toMatchObject({ active: true, reason: "webrtc_unsupported" });
    expect(onFallback).toHaveBeenCalledWith(expect.objectContaining({ reason: "webrtc_unsupported" }));
  });
});
