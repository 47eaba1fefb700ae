import type { ErrorCode, LlmKeyState, ModelPhase, ServiceState, SidecarEvent, StopReason } from "./protocol";
import type { GiveUpReason } from "./restartPolicy";

export type SidecarPhase =
  | "idle" // never started
  | "spawning" // asked Tauri to start the process
  | "starting" // process runs, not ready yet (services starting, models downloading)
  | "ready" // control API and LiveKit usable
  | "restarting" // exited unexpectedly, waiting to start again
  | "stopping" // asked to stop
  | "stopped" // stopped on request
  | "failed"; // gave up: the app should fall back to push-to-talk

export type FailureReason = GiveUpReason | "spawn_failed" | "startup_timeout";

export interface ServiceInfo {
  state: ServiceState;
  restarts: number;
  pid: number | null;
  message: string | null;
}

export interface ModelDownload {
  model: string;
  kind: string;
  phase: ModelPhase;
  file: string | null;
  bytes: number;
  total: number | null;
  rateBps: number | null;
  etaS: number | null;
  done: boolean;
  message: string | null;
}

export interface ReadyInfo {
  controlUrl: string;
  token: string;
  livekitUrl: string;
  logFile: string;
}

export interface SidecarProblem {
  code: ErrorCode;
  message: string;
  fatal: boolean;
  time: number;
  /** For `service_fatal`: the service, how its last child ended, and its last log lines. */
  service?: string;
  exitCode?: number | null;
  signal?: string | null;
  logTail?: readonly string[];
}

export interface SidecarFailure {
  reason: FailureReason;
  /** Code of the last fatal `error` event before the failure, if any. */
  code: ErrorCode | null;
  /** One line for the user. */
  message: string;
}

export interface SidecarState {
  phase: SidecarPhase;
  /** OS process id of the running sidecar (from Tauri). */
  pid: number | null;
  version: string | null;
  logFile: string | null;
  services: Readonly<Record<string, ServiceInfo>>;
  downloads: Readonly<Record<string, ModelDownload>>;
  ready: ReadyInfo | null;
  llmKey: LlmKeyState | null;
  /** Latest last, at most MAX_PROBLEMS. */
  problems: readonly SidecarProblem[];
  stopReason: StopReason | null;
  exit: { code: number | null; signal: number | null } | null;
  /** Restarts done by the app since the last manual start. */
  restarts: number;
  nextRestartInMs: number | null;
  failure: SidecarFailure | null;
  /** Last lines of stderr, for diagnostics when the sidecar cannot start. */
  stderrTail: readonly string[];
}

export const MAX_PROBLEMS = 20;
export const MAX_STDERR_LINES = 20;

export const INITIAL_SIDECAR_STATE: SidecarState = {
  phase: "idle",
  pid: null,
  version: null,
  logFile: null,
  services: {},
  downloads: {},
  ready: null,
  llmKey: null,
  problems: [],
  stopReason: null,
  exit: null,
  restarts: 0,
  nextRestartInMs: null,
  failure: null,
  stderrTail: [],
};

export type SidecarAction =
  | { type: "spawn" }
  | { type: "spawned"; pid: number }
  | { type: "event"; event: SidecarEvent }
  | { type: "stderr"; line: string }
  | { type: "stop" }
  | { type: "exited"; code: number | null; signal: number | null }
  | { type: "restart_scheduled"; delayMs: number }
  | { type: "failed"; reason: FailureReason; message: string }
  | { type: "key_stored" }
  | { type: "reset" };

function lastFatal(state: SidecarState): SidecarProblem | undefined {
  return [...state.problems].reverse().find((p) => p.fatal);
}

function applyEvent(state: SidecarState, event: SidecarEvent): SidecarState {
  const live = state.phase === "spawning" || state.phase === "starting" || state.phase === "ready";
  switch (event.event) {
    case "starting":
      return {
        ...state,
        phase: live ? "starting" : state.phase,
        version: event.version,
        logFile: event.log_file,
      };
    case "service":
      return {
        ...state,
        services: {
          ...state.services,
          [event.service]: {
            state: event.state,
            restarts: event.restarts,
            pid: event.pid,
            message: event.message,
          },
        },
      };
    case "model_progress":
      return {
        ...state,
        downloads: {
          ...state.downloads,
          [event.model]: {
            model: event.model,
            kind: event.kind,
            phase: event.phase,
            file: event.file,
            bytes: event.bytes,
            total: event.total,
            rateBps: event.rate_bps,
            etaS: event.eta_s,
            done: event.done,
            message: event.message,
          },
        },
      };
    case "ready":
      return {
        ...state,
        phase: live ? "ready" : state.phase,
        ready: {
          controlUrl: event.control_url,
          token: event.token,
          livekitUrl: event.livekit_url,
          logFile: event.log_file,
        },
        logFile: event.log_file,
        llmKey: event.llm_key,
      };
    case "error":
      return {
        ...state,
        llmKey: event.code === "missing_api_key" ? "missing" : state.llmKey,
        problems: [
          ...state.problems,
          {
            code: event.code,
            message: event.message,
            fatal: event.fatal,
            time: event.time,
            ...(event.service !== undefined ? { service: event.service } : {}),
            ...(event.exit_code !== undefined ? { exitCode: event.exit_code } : {}),
            ...(event.signal !== undefined ? { signal: event.signal } : {}),
            ...(event.log_tail !== undefined ? { logTail: event.log_tail } : {}),
          },
        ].slice(-MAX_PROBLEMS),
      };
    case "stopped":
      return { ...state, stopReason: event.reason, ready: null, phase: live ? "stopping" : state.phase };
  }
}

/** The sidecar's state as the app sees it: a pure function of what happened. */
export function sidecarReducer(state: SidecarState, action: SidecarAction): SidecarState {
  switch (action.type) {
    case "spawn":
      return {
        ...INITIAL_SIDECAR_STATE,
        phase: "spawning",
        restarts: state.restarts,
        logFile: state.logFile,
        llmKey: state.llmKey,
        problems: state.problems,
      };
    case "spawned":
      return { ...state, pid: action.pid, phase: state.phase === "spawning" ? "starting" : state.phase };
    case "event":
      return applyEvent(state, action.event);
    case "stderr":
      return { ...state, stderrTail: [...state.stderrTail, action.line].slice(-MAX_STDERR_LINES) };
    case "stop":
      return { ...state, phase: "stopping", nextRestartInMs: null };
    case "exited":
      return {
        ...state,
        pid: null,
        ready: null,
        exit: { code: action.code, signal: action.signal },
        phase: state.phase === "stopping" ? "stopped" : state.phase,
      };
    case "restart_scheduled":
      return { ...state, phase: "restarting", restarts: state.restarts + 1, nextRestartInMs: action.delayMs };
    case "failed":
      return {
        ...state,
        phase: "failed",
        pid: null,
        ready: null,
        nextRestartInMs: null,
        failure: { reason: action.reason, code: lastFatal(state)?.code ?? null, message: action.message },
      };
    case "key_stored":
      return { ...state, llmKey: "available" };
    case "reset":
      return { ...INITIAL_SIDECAR_STATE };
  }
}

/** The message to show for a failure: the sidecar's own words when it said why. */
export function failureMessage(state: SidecarState, fallback: string): string {
  return lastFatal(state)?.message ?? fallback;
}
