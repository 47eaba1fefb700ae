import { useEffect, useRef } from "react";

import type { FailureReason, SidecarState } from "./sidecarState";

export type FallbackReason = FailureReason | "webrtc_unsupported";

export interface FallbackInfo {
  reason: FallbackReason;
  /** Code of the sidecar's last fatal `error` event, if it sent one. */
  code: string | null;
  /** One line for the user. */
  message: string;
  logFile: string | null;
}

export interface VoiceFallback {
  /** True when the app should use its push-to-talk path instead of the voice room. */
  active: boolean;
  reason: FallbackReason | null;
  /** One line for the user, e.g. under the push-to-talk button. */
  message: string | null;
  /** Where the sidecar's log is, when it said so. */
  logFile: string | null;
}

export interface VoiceFallbackOptions {
  /** Whether this webview can do WebRTC; default: `RTCPeerConnection` exists. Some Linux
   * WebKitGTK builds ship without WebRTC, and the voice room cannot work there at all. */
  webrtcSupported?: boolean;
}

export function supportsWebRtc(): boolean {
  return typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === "function";
}

const NO_WEBRTC = "This system's web view has no WebRTC, which the voice conversation needs.";

/**
 * Tells the app to fall back to push-to-talk, and why: when the sidecar cannot run (it
 * could not be spawned, kept crashing, or exited with a code that a restart cannot fix)
 * or the web view lacks WebRTC. `onFallback` is called once per failure; a successful
 * retry clears the fallback.
 */
export function useVoiceFallback(
  state: SidecarState,
  onFallback?: (info: FallbackInfo) => void,
  options: VoiceFallbackOptions = {},
): VoiceFallback {
  const webrtc = options.webrtcSupported ?? supportsWebRtc();
  const failure = state.phase === "failed" ? state.failure : null;
  const logFile = failure ? state.logFile : null;
  const reason: FallbackReason | null = !webrtc ? "webrtc_unsupported" : (failure?.reason ?? null);
  const message = !webrtc ? NO_WEBRTC : (failure?.message ?? null);
  const code = webrtc ? (failure?.code ?? null) : null;

  const callback = useRef(onFallback);
  useEffect(() => {
    callback.current = onFallback;
  }, [onFallback]);
  useEffect(() => {
    if (reason !== null && message !== null) callback.current?.({ reason, code, message, logFile });
    // a new failure object means a new failure, even with the same reason
  }, [reason, code, message, logFile, failure]);

  return { active: reason !== null, reason, message, logFile };
}
