import {
  ConnectionQuality,
  DisconnectReason,
  Room,
  Track,
  type AudioCaptureOptions,
  type ReconnectContext,
  type ReconnectPolicy,
  type RemoteTrack,
  type RoomEventCallbacks,
} from "livekit-client";

import { ControlApiError } from "./controlApi";
import {
  AGENT_STATES,
  ATTR_AGENT_STATE,
  LATENCY_FIELDS,
  TOPIC_LATENCY,
  TOPIC_TRANSCRIPTION,
  type AgentState,
  type HistoryItem,
  type SessionRequest,
  type SessionResponse,
  type TurnLatency,
} from "./protocol";
import { TranscriptAssembler, type TextStreamReaderLike, type TranscriptMessage } from "./transcript";

/** Microphone capture with the browser's echo cancellation, noise suppression and auto gain. */
export const MIC_CAPTURE_OPTIONS: AudioCaptureOptions = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

// ---- the parts of livekit-client's Room this module uses ----

export interface ParticipantLike {
  readonly identity: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface LocalParticipantLike {
  readonly identity: string;
  setMicrophoneEnabled(enabled: boolean, options?: AudioCaptureOptions): Promise<unknown>;
}

/**
 * The slice of `Room` used here. `Room` satisfies it (checked below at compile time), so
 * the fake rooms of the tests, which implement it, are shaped like the real one.
 */
export interface RoomLike {
  readonly localParticipant: LocalParticipantLike;
  readonly remoteParticipants: ReadonlyMap<string, ParticipantLike>;
  connect(url: string, token: string): Promise<void>;
  disconnect(stopTracks?: boolean): Promise<void>;
  startAudio(): Promise<void>;
  on<E extends keyof RoomEventCallbacks>(event: E, listener: RoomEventCallbacks[E]): unknown;
  off<E extends keyof RoomEventCallbacks>(event: E, listener: RoomEventCallbacks[E]): unknown;
  registerTextStreamHandler(
    topic: string,
    callback: (reader: TextStreamReaderLike, participantInfo: { identity: string }) => void,
  ): void;
  unregisterTextStreamHandler(topic: string): void;
}

// Compile-time proof that the real Room has every member the fakes imitate.
export const roomIsRoomLike = (room: Room): RoomLike => room;

/**
 * livekit-client's waits before each attempt to resume a dropped link. Its defaults
 * (0, 0.3, 1.2, 2.7, 4.8 s, then 7 s, each after the second with up to 1 s of random
 * jitter) are made for many clients of a server across the internet; ours is one client of
 * a server on loopback that is back 0.5 s + its start (~0.4 s) after a crash, so the
 * attempts come sooner and without jitter (measured, kill -9 of livekit-server to "Listening"
 * again in Chromium: 5.3 s with the defaults, 3.1-4.9 s with these). Forty seconds in all,
 * as the defaults give.
 */
export const LOOPBACK_RECONNECT_DELAYS_MS: readonly number[] = [0, 300, 600, 1_000, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000, 7_000, 7_000];

export const loopbackReconnectPolicy: ReconnectPolicy = {
  nextRetryDelayInMs: (context: ReconnectContext) => LOOPBACK_RECONNECT_DELAYS_MS[context.retryCount] ?? null,
};

export function createLiveKitRoom(): RoomLike {
  return new Room({
    audioCaptureDefaults: MIC_CAPTURE_OPTIONS,
    adaptiveStream: false,
    dynacast: false,
    reconnectPolicy: loopbackReconnectPolicy,
  });
}

// ---- session state ----

export type ConnectionPhase =
  | "idle"
  | "requesting_session"
  | "connecting"
  | "connected"
  | "reconnecting" // livekit-client is resuming the same connection, or we wait to retry
  | "failed";

export type VoiceErrorKind =
  | "mic_permission" // the user or the OS refused the microphone
  | "no_microphone" // no input device (or none matching the constraints)
  | "mic_unavailable" // the device exists but cannot be opened (busy, hardware error)
  | "session_refused" // POST /session answered with a client error
  | "assistant_busy" // POST /session: the agent worker holds all the conversations it takes
  | "backend_unreachable" // the control API or LiveKit could not be reached, retries exhausted
  | "connection_lost"; // the room dropped and reconnecting failed

export interface VoiceError {
  kind: VoiceErrorKind;
  message: string;
}

export interface VoiceSessionState {
  connection: ConnectionPhase;
  room: string | null;
  identity: string | null;
  /** Agent state from `lk.agent.state`; null while no agent is in the room. */
  agentState: AgentState | null;
  transcript: readonly TranscriptMessage[];
  lastLatency: TurnLatency | null;
  micMuted: boolean;
  micPublished: boolean;
  error: VoiceError | null;
  /** Current retry (1-based) while reconnecting after a failure, else 0. */
  retryAttempt: number;
}

export const INITIAL_VOICE_STATE: VoiceSessionState = {
  connection: "idle",
  room: null,
  identity: null,
  agentState: null,
  transcript: [],
  lastLatency: null,
  micMuted: false,
  micPublished: false,
  error: null,
  retryAttempt: 0,
};

/** Backoff of our own reconnects (livekit-client first retries a dropped link by itself). */
export interface ReconnectOptions {
  initialDelayMs: number;
  factor: number;
  maxDelayMs: number;
  maxAttempts: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = {
  initialDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 15_000,
  maxAttempts: 5,
};

export function reconnectDelay(attempt: number, options: ReconnectOptions): number {
  return Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (attempt - 1));
}

/**
 * How long the room may be without its agent (it left, or livekit-server reports its
 * connection lost) before a new session is requested. A crashed agent worker leaves its
 * participant behind until the server gives up on it (~20 s); the server reports the
 * connection lost after ~10 s.
 */
export const AGENT_GONE_MS = 3_000;

/** How many earlier messages a reconnect sends back as `history`. */
export const RECONNECT_HISTORY = 20;

export interface SessionApi {
  createSession(request: SessionRequest): Promise<SessionResponse>;
}

export interface VoiceSessionOptions {
  api: SessionApi;
  createRoom?: () => RoomLike;
  /** Every final transcript message, exactly once (persistence). */
  onMessage?: (message: TranscriptMessage, session: { room: string; identity: string }) => void;
  reconnect?: ReconnectOptions;
  /** See AGENT_GONE_MS. */
  agentGoneMs?: number;
  /** Where the agent's audio elements go; default `document.body`. */
  audioContainer?: () => HTMLElement;
  logger?: Pick<Console, "warn">;
}

export function parseLatency(text: string): TurnLatency | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const latency = {} as Record<keyof TurnLatency, number | null>;
  for (const field of LATENCY_FIELDS) {
    const v = record[field];
    if (v === null || v === undefined) latency[field] = null;
    else if (typeof v === "number" && Number.isFinite(v)) latency[field] = v;
    else return null;
  }
  return latency;
}

function asAgentState(value: string | undefined): AgentState | null {
  return (AGENT_STATES as readonly string[]).includes(value ?? "") ? (value as AgentState) : null;
}

function mediaErrorKind(error: unknown): VoiceErrorKind {
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "mic_permission";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return "no_microphone";
  return "mic_unavailable";
}

const MIC_MESSAGES: Record<"mic_permission" | "no_microphone" | "mic_unavailable", string> = {
  mic_permission: "The microphone is blocked for this app.",
  no_microphone: "No microphone was found.",
  mic_unavailable: "The microphone could not be opened; another program may be using it.",
};

/**
 * One conversation: asks the sidecar for a session, joins the LiveKit room, publishes the
 * microphone, plays the agent, and follows agent state, transcripts and latency.
 * Framework-free; `useLiveKit` wraps it for React.
 */
export class VoiceSession {
  private state: VoiceSessionState = INITIAL_VOICE_STATE;
  private readonly listeners = new Set<() => void>();
  private room: RoomLike | null = null;
  private session: SessionResponse | null = null;
  private request: SessionRequest | null = null;
  private wanted = false;
  /** Increases with every start() and stop(): work of an older run stops at its next await. */
  private run = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private agentGoneTimer: ReturnType<typeof setTimeout> | null = null;
  /** Agents that livekit-server reports as unreachable (ConnectionQuality.Lost). */
  private readonly lostAgents = new Set<string>();
  /** New sessions requested because the agent was gone, since its last answer. */
  private agentLosses = 0;
  private readonly audioElements = new Map<RemoteTrack, HTMLMediaElement[]>();
  private readonly transcript: TranscriptAssembler;
  private readonly reconnectOptions: ReconnectOptions;
  private readonly agentGoneMs: number;
  private readonly createRoom: () => RoomLike;
  private readonly logger: Pick<Console, "warn">;
  private unbind: (() => void) | null = null;
  /** The current room has had an agent (only then can it lose one). */
  private hadAgent = false;
  private api: SessionApi;
  private onMessage: VoiceSessionOptions["onMessage"];

  constructor(private readonly options: VoiceSessionOptions) {
    this.api = options.api;
    this.onMessage = options.onMessage;
    this.reconnectOptions = options.reconnect ?? DEFAULT_RECONNECT;
    this.agentGoneMs = options.agentGoneMs ?? AGENT_GONE_MS;
    this.createRoom = options.createRoom ?? createLiveKitRoom;
    this.logger = options.logger ?? console;
    this.transcript = new TranscriptAssembler(
      (transcript) => {
        this.set({ transcript });
      },
      (message) => {
        const session = this.session;
        if (message.speaker === "assistant") this.agentLosses = 0; // it answered: it works
        if (session) this.onMessage?.(message, { room: session.room, identity: session.identity });
      },
    );
  }

  getState = (): VoiceSessionState => this.state;

  /** Swaps the control API (a restarted sidecar has a new URL and token) or the message callback. */
  configure(update: { api: SessionApi; onMessage?: VoiceSessionOptions["onMessage"] }): void {
    this.api = update.api;
    this.onMessage = update.onMessage;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** The LiveKit room while connected (null otherwise). */
  get currentRoom(): RoomLike | null {
    return this.room;
  }

  /** Starts a conversation. Call it from a click: browsers allow audio playback then. */
  async start(request: SessionRequest): Promise<void> {
    if (this.wanted) return;
    this.wanted = true;
    const run = ++this.run;
    this.request = request;
    this.agentLosses = 0;
    this.transcript.clear();
    this.set({ ...INITIAL_VOICE_STATE, transcript: [], connection: "requesting_session" });
    await this.attempt(0, run);
  }

  /** Ends the conversation; no reconnect follows. */
  async stop(): Promise<void> {
    this.wanted = false;
    this.run++;
    this.clearRetry();
    const room = this.room;
    this.teardownRoom();
    if (room) await room.disconnect(true).catch(() => undefined);
    this.set({ connection: "idle", agentState: null, micPublished: false, retryAttempt: 0 });
  }

  async setMuted(muted: boolean): Promise<void> {
    const room = this.room;
    if (!room || this.state.connection !== "connected") {
      this.set({ micMuted: muted });
      return;
    }
    try {
      await room.localParticipant.setMicrophoneEnabled(!muted, MIC_CAPTURE_OPTIONS);
      this.set({ micMuted: muted, micPublished: true, error: null });
    } catch (error) {
      this.micFailed(error);
    }
  }

  /** After a microphone error: ask for the microphone again. */
  async retryMicrophone(): Promise<void> {
    await this.setMuted(false);
  }

  dismissError(): void {
    this.set({ error: null });
  }

  /** Read through a method: `run` changes while this object awaits. */
  private isCurrent(run: number): boolean {
    return this.wanted && this.run === run;
  }

  private set(patch: Partial<VoiceSessionState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of [...this.listeners]) listener();
  }

  private async attempt(retry: number, run: number): Promise<void> {
    if (!this.isCurrent(run) || !this.request) return;
    this.set({ connection: retry === 0 ? "requesting_session" : "reconnecting", retryAttempt: retry });
    let session: SessionResponse;
    try {
      session = await this.api.createSession(this.requestWithHistory(retry));
    } catch (error) {
      if (!this.isCurrent(run)) return;
      if (error instanceof ControlApiError && error.code === "assistant_busy") {
        // not retried on its own: a conversation frees a place in minutes, not seconds, and the
        // user decides whether to wait (start() again) — the server's line says what happened
        this.wanted = false;
        this.set({ connection: "failed", error: { kind: "assistant_busy", message: error.message } });
        return;
      }
      if (error instanceof ControlApiError && error.status >= 400 && error.status < 500 && error.status !== 408) {
        this.wanted = false;
        this.set({ connection: "failed", error: { kind: "session_refused", message: error.message } });
        return;
      }
      this.scheduleRetry(retry, run, "backend_unreachable", `The voice backend did not start a session: ${String(error)}`);
      return;
    }
    if (!this.isCurrent(run)) return;
    this.session = session;
    const room = this.createRoom();
    this.room = room;
    this.bind(room, session, run);
    this.set({ connection: "connecting", room: session.room, identity: session.identity });
    try {
      await room.connect(session.livekit_url, session.token);
    } catch (error) {
      if (this.room !== room) return;
      this.teardownRoom();
      this.scheduleRetry(retry, run, "backend_unreachable", `Could not join the voice room: ${String(error)}`);
      return;
    }
    if (this.room !== room || !this.isCurrent(run)) return;
    this.set({ connection: "connected", retryAttempt: 0, error: null });
    this.scanParticipants(room);
    await room.startAudio().catch(() => undefined);
    try {
      await room.localParticipant.setMicrophoneEnabled(!this.state.micMuted, MIC_CAPTURE_OPTIONS);
      this.set({ micPublished: true });
    } catch (error) {
      this.micFailed(error);
    }
  }

  private requestWithHistory(retry: number): SessionRequest {
    const request = this.request ?? { version: 1 };
    if (retry === 0) return request;
    const spoken: HistoryItem[] = this.transcript.current
      .filter((m) => m.final && m.text.trim() !== "")
      .map((m) => ({ role: m.speaker, text: m.text }));
    const history = [...(request.history ?? []), ...spoken].slice(-RECONNECT_HISTORY);
    return { ...request, history };
  }

  private scheduleRetry(retry: number, run: number, kind: VoiceErrorKind, message: string): void {
    const next = retry + 1;
    if (!this.isCurrent(run)) return;
    if (next > this.reconnectOptions.maxAttempts) {
      this.wanted = false;
      this.set({ connection: "failed", error: { kind, message }, retryAttempt: 0 });
      return;
    }
    this.logger.warn(`voice room: ${message}; retry ${next} of ${this.reconnectOptions.maxAttempts}`);
    this.set({ connection: "reconnecting", retryAttempt: next, agentState: null });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.attempt(next, run);
    }, reconnectDelay(next, this.reconnectOptions));
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private micFailed(error: unknown): void {
    const kind = mediaErrorKind(error);
    this.logger.warn(`voice room: microphone: ${String(error)}`);
    this.set({ micPublished: false, error: { kind, message: MIC_MESSAGES[kind as keyof typeof MIC_MESSAGES] } });
  }

  /** The agent state of the room's live agent (null when it has none), and what to do if none. */
  private scanParticipants(room: RoomLike): void {
    let state: AgentState | null = null;
    for (const participant of room.remoteParticipants.values()) {
      if (this.lostAgents.has(participant.identity)) continue;
      state = asAgentState(participant.attributes[ATTR_AGENT_STATE]) ?? state;
    }
    this.set({ agentState: state });
    if (state === null) this.agentMaybeGone(room);
    else this.clearAgentGone();
  }

  /** A room that had an agent has none now: unless one (re)appears soon, start a new session. */
  private agentMaybeGone(room: RoomLike): void {
    if (this.agentGoneTimer !== null || !this.hadAgent) return;
    this.agentGoneTimer = setTimeout(() => {
      this.agentGoneTimer = null;
      if (this.room !== room || this.state.connection !== "connected" || this.state.agentState !== null) return;
      this.replaceLostRoom(room);
    }, this.agentGoneMs);
  }

  private replaceLostRoom(room: RoomLike): void {
    const run = this.run;
    this.agentLosses++;
    this.teardownRoom();
    void room.disconnect(true).catch(() => undefined);
    this.set({ micPublished: false });
    if (this.agentLosses > this.reconnectOptions.maxAttempts) {
      this.wanted = false;
      this.set({
        connection: "failed",
        agentState: null,
        retryAttempt: 0,
        error: { kind: "connection_lost", message: "The assistant keeps leaving the conversation." },
      });
      return;
    }
    this.scheduleRetry(0, run, "connection_lost", "The assistant left the conversation.");
  }

  private clearAgentGone(): void {
    if (this.agentGoneTimer !== null) clearTimeout(this.agentGoneTimer);
    this.agentGoneTimer = null;
  }

  private bind(room: RoomLike, session: SessionResponse, run: number): void {
    this.hadAgent = false;
    this.lostAgents.clear();
    const isAgent = (participant: ParticipantLike) =>
      participant.identity !== session.identity && ATTR_AGENT_STATE in participant.attributes;
    const onAttributes: RoomEventCallbacks["participantAttributesChanged"] = (changed, participant) => {
      if (!(ATTR_AGENT_STATE in changed) || participant.identity === session.identity) return;
      this.hadAgent = true;
      if (this.lostAgents.has(participant.identity)) return;
      this.set({ agentState: asAgentState(changed[ATTR_AGENT_STATE]) });
    };
    const onParticipantConnected: RoomEventCallbacks["participantConnected"] = (participant) => {
      if (!isAgent(participant)) return;
      this.hadAgent = true;
      this.lostAgents.delete(participant.identity);
      this.scanParticipants(room);
    };
    const onParticipantDisconnected: RoomEventCallbacks["participantDisconnected"] = (participant) => {
      this.lostAgents.delete(participant.identity);
      if (ATTR_AGENT_STATE in participant.attributes) this.scanParticipants(room);
    };
    // livekit-server reports an agent whose process died as "lost" ~10 s before it removes it
    const onQuality: RoomEventCallbacks["connectionQualityChanged"] = (quality, participant) => {
      if (!isAgent(participant)) return;
      const lost = quality === ConnectionQuality.Lost;
      if (lost === this.lostAgents.has(participant.identity)) return;
      if (lost) this.lostAgents.add(participant.identity);
      else this.lostAgents.delete(participant.identity);
      this.scanParticipants(room);
    };
    const onTrackSubscribed: RoomEventCallbacks["trackSubscribed"] = (track) => {
      if (track.kind !== Track.Kind.Audio) return;
      const element = track.attach();
      element.hidden = true;
      (this.options.audioContainer?.() ?? document.body).append(element);
      this.audioElements.set(track, [element]);
    };
    const onTrackUnsubscribed: RoomEventCallbacks["trackUnsubscribed"] = (track) => {
      for (const element of track.detach()) element.remove();
      this.audioElements.delete(track);
    };
    // signalReconnecting: the link to livekit-server dropped and livekit-client tries to
    // resume it (seconds, when the server itself went down); reconnecting: it rejoins anew
    const onReconnecting = () => {
      this.clearAgentGone();
      this.set({ connection: "reconnecting" });
    };
    const onReconnected: RoomEventCallbacks["reconnected"] = () => {
      this.set({ connection: "connected", retryAttempt: 0 });
      this.scanParticipants(room); // a full reconnect replaced every remote participant
    };
    const onDisconnected: RoomEventCallbacks["disconnected"] = (reason) => {
      if (this.room !== room) return;
      this.teardownRoom();
      if (!this.wanted || reason === DisconnectReason.CLIENT_INITIATED) {
        this.set({ connection: "idle", agentState: null, micPublished: false });
        return;
      }
      this.scheduleRetry(0, run, "connection_lost", "The connection to the voice room was lost.");
    };
    const onMediaDevicesError: RoomEventCallbacks["mediaDevicesError"] = (error) => {
      this.micFailed(error);
    };
    room.on("participantAttributesChanged", onAttributes);
    room.on("participantConnected", onParticipantConnected);
    room.on("participantDisconnected", onParticipantDisconnected);
    room.on("trackSubscribed", onTrackSubscribed);
    room.on("trackUnsubscribed", onTrackUnsubscribed);
    room.on("connectionQualityChanged", onQuality);
    room.on("signalReconnecting", onReconnecting);
    room.on("reconnecting", onReconnecting);
    room.on("reconnected", onReconnected);
    room.on("disconnected", onDisconnected);
    room.on("mediaDevicesError", onMediaDevicesError);
    room.registerTextStreamHandler(TOPIC_TRANSCRIPTION, (reader, participant) => {
      const speaker = participant.identity === session.identity ? "user" : "assistant";
      void this.transcript.consume(reader, participant.identity, speaker);
    });
    room.registerTextStreamHandler(TOPIC_LATENCY, (reader) => {
      void this.readLatency(reader);
    });
    this.unbind = () => {
      room.off("participantAttributesChanged", onAttributes);
      room.off("participantConnected", onParticipantConnected);
      room.off("participantDisconnected", onParticipantDisconnected);
      room.off("trackSubscribed", onTrackSubscribed);
      room.off("trackUnsubscribed", onTrackUnsubscribed);
      room.off("connectionQualityChanged", onQuality);
      room.off("signalReconnecting", onReconnecting);
      room.off("reconnecting", onReconnecting);
      room.off("reconnected", onReconnected);
      room.off("disconnected", onDisconnected);
      room.off("mediaDevicesError", onMediaDevicesError);
      room.unregisterTextStreamHandler(TOPIC_TRANSCRIPTION);
      room.unregisterTextStreamHandler(TOPIC_LATENCY);
    };
  }

  private async readLatency(reader: TextStreamReaderLike): Promise<void> {
    let text = "";
    try {
      for await (const chunk of reader) text += chunk;
    } catch {
      return;
    }
    const latency = parseLatency(text);
    if (latency) this.set({ lastLatency: latency });
    else this.logger.warn(`voice room: ignored a ${TOPIC_LATENCY} message that is not the documented JSON object`);
  }

  private teardownRoom(): void {
    this.clearAgentGone();
    this.unbind?.();
    this.unbind = null;
    for (const [track, elements] of this.audioElements) {
      track.detach();
      for (const element of elements) element.remove();
    }
    this.audioElements.clear();
    this.room = null;
  }
}
