import { useEffect, useMemo, useRef, useState } from "react";

import { ApiKeyForm } from "./components/ApiKeyForm";
import { AgentStatus } from "./components/AgentStatus";
import { BackendStatus } from "./components/BackendStatus";
import { ErrorPanel } from "./components/ErrorPanel";
import { LatencyView } from "./components/LatencyView";
import { MicPermissionHelp } from "./components/MicPermissionHelp";
import { PersonaSelect, type PersonaOption } from "./components/PersonaSelect";
import { TranscriptView } from "./components/TranscriptView";
import { ControlApi, type FetchLike } from "./controlApi";
import { detectPlatform, type Platform } from "./format";
import type { ReconnectOptions, RoomLike, VoiceErrorKind, VoiceSessionOptions } from "./livekit";
import type { HistoryItem } from "./protocol";
import type { SidecarState } from "./sidecarState";
import { useKeyStatus } from "./useKeyStatus";
import { useLiveKit } from "./useLiveKit";

/**
 * Error code for "the LLM endpoint cannot be reached". Not in docs/sidecar-protocol.md
 * version 1 yet (proposed): an `error` event with this code, `fatal: false`.
 */
export const LLM_UNREACHABLE_CODE = "llm_unreachable";

const MIC_ERRORS: readonly VoiceErrorKind[] = ["mic_permission", "no_microphone", "mic_unavailable"];

export interface VoiceRoomProps {
  sidecar: SidecarState;
  personas: readonly PersonaOption[];
  /** Recent conversation sent with the session request so the assistant has context. */
  history?: readonly HistoryItem[];
  /** Every final transcript message, exactly once: store it (see `createTauriMessageSink`). */
  onMessage?: VoiceSessionOptions["onMessage"];
  /** Restart the sidecar after a failure (e.g. `controller.retry`). */
  onRetryBackend?: () => void;
  /** Called after `PUT /key` stored a key (e.g. `controller.markKeyStored`). */
  onKeyStored?: () => void;
  fetch?: FetchLike;
  createRoom?: () => RoomLike;
  reconnect?: ReconnectOptions;
  platform?: Platform;
  /** Start the conversation as soon as the backend is ready (once per mount). Browsers
   * may keep the agent's audio silent until a click; Tauri's web views do not. */
  autoStart?: boolean;
  /** Whether this web view can do WebRTC (pass `supportsWebRtc()`); default true. Without it
   * the backend's state and the key form still show, and a conversation cannot be started. */
  webrtcSupported?: boolean;
}

export function VoiceRoom(props: VoiceRoomProps) {
  const { sidecar, personas } = props;
  const ready = sidecar.phase === "ready" ? sidecar.ready : null;
  const controlUrl = ready?.controlUrl;
  const token = ready?.token;
  const fetchImpl = props.fetch;
  const api = useMemo(
    () =>
      controlUrl && token
        ? new ControlApi({ baseUrl: controlUrl, token, ...(fetchImpl ? { fetch: fetchImpl } : {}) })
        : null,
    [controlUrl, token, fetchImpl],
  );
  const key = useKeyStatus(api, sidecar.llmKey);
  const lk = useLiveKit({
    api,
    ...(props.onMessage ? { onMessage: props.onMessage } : {}),
    ...(props.createRoom ? { createRoom: props.createRoom } : {}),
    ...(props.reconnect ? { reconnect: props.reconnect } : {}),
  });
  const [personaId, setPersonaId] = useState(personas[0]?.id ?? "");
  const [dismissedLlmError, setDismissedLlmError] = useState(0);
  const platform = props.platform ?? detectPlatform();
  const webrtc = props.webrtcSupported ?? true;
  const canStart = api !== null && webrtc;

  const persona = personas.find((p) => p.id === personaId) ?? personas[0];
  const assistantName = persona?.persona.name ?? "Assistant";
  const inCall = lk.connection !== "idle" && lk.connection !== "failed";
  const llmProblem = [...sidecar.problems]
    .reverse()
    .find((p) => p.code === LLM_UNREACHABLE_CODE && p.time > dismissedLlmError);

  const start = () => {
    void lk.start({
      version: 1,
      ...(persona ? { persona: persona.persona } : {}),
      ...(props.history ? { history: [...props.history] } : {}),
    });
  };
  const autoStarted = useRef(false);
  const startRef = useRef(start);
  useEffect(() => {
    startRef.current = start;
  });
  useEffect(() => {
    if (!props.autoStart || !api || !webrtc || autoStarted.current) return;
    autoStarted.current = true;
    startRef.current();
    return () => {
      autoStarted.current = false; // StrictMode's trial unmount stopped it; start again on remount
    };
  }, [props.autoStart, api, webrtc]);

  const micError = lk.error && MIC_ERRORS.includes(lk.error.kind) ? lk.error : null;
  const callError = lk.error && !micError ? lk.error : null;

  return (
    <section className="voice-room" aria-labelledby="voice-room-title">
      <header className="vr-header">
        <h2 id="voice-room-title">Voice conversation</h2>
        <AgentStatus connection={lk.connection} agentState={lk.agentState} micMuted={lk.micMuted} />
      </header>

      <BackendStatus sidecar={sidecar} onRetry={props.onRetryBackend} />

      {api && key.state === "missing" ? (
        <ApiKeyForm
          putKey={(value) => api.putKey(value)}
          onStored={() => {
            key.markStored();
            props.onKeyStored?.();
          }}
        />
      ) : null}

      {llmProblem ? (
        <ErrorPanel
          title="The language model cannot be reached"
          testId="llm-unreachable"
          actions={
            <button
              type="button"
              onClick={() => {
                setDismissedLlmError(llmProblem.time);
              }}
            >
              Dismiss
            </button>
          }
        >
          <p>{llmProblem.message}</p>
          <p>
            Check the internet connection, or the LLM address in the voice settings (llm.base_url). The assistant keeps
            listening and tries again on your next question.
          </p>
        </ErrorPanel>
      ) : null}

      {micError ? (
        <ErrorPanel
          title={micError.kind === "mic_permission" ? "Microphone access is blocked" : "The microphone is not available"}
          takeFocus
          testId="mic-error"
          actions={
            <button type="button" onClick={() => void lk.retryMicrophone()}>
              Try again
            </button>
          }
        >
          <p>{micError.message}</p>
          <MicPermissionHelp platform={platform} />
        </ErrorPanel>
      ) : null}

      {callError ? (
        <ErrorPanel
          title={callError.kind === "assistant_busy" ? "The assistant is busy" : "The conversation could not continue"}
          testId="call-error"
          actions={
            <>
              <button type="button" onClick={start} disabled={!api}>
                Try again
              </button>
              <button type="button" onClick={lk.dismissError}>
                Dismiss
              </button>
            </>
          }
        >
          <p>{callError.message}</p>
        </ErrorPanel>
      ) : null}

      <div className="vr-controls">
        <PersonaSelect options={personas} value={personaId} onChange={setPersonaId} disabled={inCall} />
        {inCall ? (
          <button type="button" className="vr-primary" onClick={() => void lk.stop()}>
            Stop conversation
          </button>
        ) : (
          <button type="button" className="vr-primary" onClick={start} disabled={!canStart}>
            Start conversation
          </button>
        )}
        <button
          type="button"
          aria-pressed={lk.micMuted}
          onClick={() => void lk.toggleMute()}
          disabled={!inCall}
        >
          {lk.micMuted ? "Unmute microphone" : "Mute microphone"}
        </button>
      </div>

      {webrtc ? null : (
        <p className="vr-hint" data-testid="no-webrtc">
          This system&apos;s web view has no WebRTC, so a voice conversation cannot start here.
        </p>
      )}

      <LatencyView latency={lk.lastLatency} />
      <TranscriptView messages={lk.transcript} assistantName={assistantName} />
    </section>
  );
}
