// Types of the sidecar protocol, version 1: docs/sidecar-protocol.md is the contract.
// A change here is a change to that document first.

export const PROTOCOL_VERSION = 1;

/** The `externalBin` entry; the app's Rust side starts it by its file name (voice.rs). */
export const SIDECAR_PROGRAM = "binaries/voice-sidecar";

export const TOPIC_TRANSCRIPTION = "lk.transcription";
export const TOPIC_LATENCY = "pa.latency";
export const ATTR_AGENT_STATE = "lk.agent.state";
export const ATTR_TRANSCRIBED_TRACK_ID = "lk.transcribed_track_id";
export const ATTR_SEGMENT_ID = "lk.segment_id";
export const ATTR_TRANSCRIPTION_FINAL = "lk.transcription_final";

// ---- events on stdout ----

export const SERVICE_STATES = ["starting", "ready", "unhealthy", "restarting", "stopped", "fatal"] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

export const STOP_REASONS = ["parent_exit", "stdin_closed", "shutdown_request", "signal", "fatal"] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const ERROR_CODES = [
  "config_invalid",
  "livekit_not_found",
  "port_busy",
  "already_running",
  "keyring_unavailable",
  "missing_api_key",
  "model_download_failed",
  "service_fatal",
  "internal",
] as const;
/** A documented error code, or a newer one this client does not know (kept as text). */
export type ErrorCode = (typeof ERROR_CODES)[number] | (string & {});

/** `unknown`: the OS keyring has not answered yet (`ready` never waits for it). */
export type LlmKeyState = "available" | "missing" | "unknown";
export const LLM_KEY_STATES = ["available", "missing", "unknown"] as const;

interface EventBase {
  v: 1;
  time: number;
}

export interface StartingEvent extends EventBase {
  event: "starting";
  version: string;
  pid: number;
  log_file: string;
}

export interface ServiceEvent extends EventBase {
  event: "service";
  service: string;
  state: ServiceState;
  restarts: number;
  pid: number | null;
  message: string | null;
}

export const MODEL_PHASES = [
  "model_download_waiting",
  "model_download_started",
  "model_download_progress",
  "model_download_retry",
  "model_download_file_done",
  "model_download_finished",
  "model_download_failed",
] as const;
/** A documented phase, or a newer one (kept as text). */
export type ModelPhase = (typeof MODEL_PHASES)[number] | (string & {});

export interface ModelProgressEvent extends EventBase {
  event: "model_progress";
  model: string;
  /** `whisper` or `piper` (kept as text if newer). */
  kind: string;
  phase: ModelPhase;
  file: string | null;
  /** Never decreases. */
  bytes: number;
  total: number | null;
  rate_bps: number | null;
  eta_s: number | null;
  done: boolean;
  message: string | null;
}

export interface ReadyEvent extends EventBase {
  event: "ready";
  control_url: string;
  token: string;
  livekit_url: string;
  log_file: string;
  llm_key: LlmKeyState;
}

export interface ErrorEvent extends EventBase {
  event: "error";
  code: ErrorCode;
  message: string;
  fatal: boolean;
  /** `service_fatal` only: which service failed, how its last child ended, its last lines. */
  service?: string;
  exit_code?: number | null;
  signal?: string | null;
  log_tail?: string[];
}

export interface StoppedEvent extends EventBase {
  event: "stopped";
  reason: StopReason;
}

export type SidecarEvent =
  | StartingEvent
  | ServiceEvent
  | ModelProgressEvent
  | ReadyEvent
  | ErrorEvent
  | StoppedEvent;

/** Exit codes of `voice-sidecar up`. */
export const EXIT_CODES = {
  ok: 0,
  configInvalid: 2,
  modelFetchFailed: 4,
  livekitNotFound: 5,
  portBusy: 6,
  serviceFatal: 7,
  alreadyRunning: 8,
  /** the packaged launcher found no `voice-sidecar-bundle/` (a broken install) */
  bundleMissing: 9,
} as const;

// ---- control API ----

export interface Persona {
  name?: string;
  instructions?: string;
  voice?: string;
  language?: string;
}

export interface HistoryItem {
  role: "user" | "assistant";
  text: string;
}

export interface SessionRequest {
  version: 1;
  persona?: Persona;
  history?: HistoryItem[];
}

export interface SessionResponse {
  livekit_url: string;
  token: string;
  room: string;
  identity: string;
}

export type HealthStatus = "starting" | "ready" | "degraded" | "fatal";

export interface ServiceHealth {
  state: ServiceState;
  restarts: number;
  pid: number | null;
  last_error: string | null;
}

export interface HealthResponse {
  status: HealthStatus;
  services: Record<string, ServiceHealth>;
  llm_key: LlmKeyState;
}

export interface ModelInfo {
  name: string;
  kind: string;
  installed: boolean;
  size_bytes: number;
  /** Not specified by the contract beyond its name; kept as received. */
  progress: unknown;
}

export interface ModelsResponse {
  models: ModelInfo[];
}

export interface KeyStatusResponse {
  available: boolean;
  /** `unknown` while the keyring has not answered; ask again a moment later. */
  state?: LlmKeyState;
  source: "keyring" | "environment NEBIUS_API_KEY" | "missing" | (string & {});
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}

// ---- LiveKit side ----

export const AGENT_STATES = ["initializing", "listening", "thinking", "speaking"] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** One object per turn on the `pa.latency` text stream; seconds, or null when not measured. */
export interface TurnLatency {
  end_of_turn_s: number | null;
  stt_s: number | null;
  llm_ttft_s: number | null;
  llm_first_sentence_s: number | null;
  tts_ttfb_s: number | null;
  e2e_s: number | null;
}

export const LATENCY_FIELDS = [
  "end_of_turn_s",
  "stt_s",
  "llm_ttft_s",
  "llm_first_sentence_s",
  "tts_ttfb_s",
  "e2e_s",
] as const satisfies readonly (keyof TurnLatency)[];
