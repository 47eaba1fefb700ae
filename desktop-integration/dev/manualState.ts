import { INITIAL_SIDECAR_STATE, type SidecarState } from "../src/sidecarState";

/**
 * The sidecar state for a `voice-sidecar up` started by hand: ready, with the control URL
 * and token copied from its `ready` event. Its stdout events (model progress, errors) do
 * not reach a browser page; the key status comes from `GET /key/status`.
 */
export function manualReadyState(controlUrl: string, token: string): SidecarState {
  return {
    ...INITIAL_SIDECAR_STATE,
    phase: "ready",
    ready: { controlUrl, token, livekitUrl: "", logFile: "" },
  };
}
