import { ConnectionQuality, DisconnectReason, type AudioCaptureOptions, type RoomEventCallbacks } from "livekit-client";

import type { LocalParticipantLike, ParticipantLike, RoomLike } from "../livekit";
import { ATTR_AGENT_STATE, ATTR_SEGMENT_ID, ATTR_TRANSCRIPTION_FINAL, type AgentState } from "../protocol";
import type { TextStreamReaderLike } from "../transcript";

type Listener = (...args: never[]) => void;
type TextHandler = (reader: TextStreamReaderLike, participantInfo: { identity: string }) => void;

/**
 * A text stream as livekit-client's TextStreamReader presents it: `info` (id, topic,
 * timestamp, attributes) and an async iterator of string chunks. Trailer attributes are
 * merged into `info.attributes` when the stream closes, as livekit-client does; an abnormal
 * close makes the iterator throw.
 */
export class FakeTextStream implements TextStreamReaderLike {
  readonly info: { id: string; topic: string; timestamp: number; mimeType: string; attributes: Record<string, string> };
  private readonly queue: string[] = [];
  private closed = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(id: string, topic: string, attributes: Record<string, string>, timestamp = Date.now()) {
    this.info = { id, topic, timestamp, mimeType: "text/plain", attributes };
  }

  push(chunk: string): this {
    this.queue.push(chunk);
    this.notify();
    return this;
  }

  close(trailerAttributes: Record<string, string> = {}): this {
    this.info.attributes = { ...this.info.attributes, ...trailerAttributes };
    this.closed = true;
    this.notify();
    return this;
  }

  abort(reason = "aborted"): this {
    this.failure = new Error(`Data stream ${this.info.id} closed abnormally: ${reason}`);
    this.notify();
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: async () => {
        while (this.queue.length === 0 && !this.closed && this.failure === null) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
        }
        const chunk = this.queue.shift();
        if (chunk !== undefined) return { value: chunk, done: false };
        if (this.failure) throw this.failure;
        return { value: undefined, done: true };
      },
    };
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

export class FakeLocalParticipant implements LocalParticipantLike {
  identity = "";
  readonly micCalls: { enabled: boolean; options: AudioCaptureOptions | undefined }[] = [];
  micError: Error | null = null;

  setMicrophoneEnabled(enabled: boolean, options?: AudioCaptureOptions): Promise<unknown> {
    this.micCalls.push({ enabled, options });
    if (this.micError !== null) return Promise.reject(this.micError);
    return Promise.resolve(undefined);
  }
}

export class FakeRemoteParticipant implements ParticipantLike {
  attributes: Record<string, string> = {};
  constructor(readonly identity: string) {}
}

export class FakeAudioTrack {
  readonly kind = "audio";
  readonly elements: HTMLMediaElement[] = [];
  attach(): HTMLMediaElement {
    const element = document.createElement("audio");
    this.elements.push(element);
    return element;
  }
  detach(): HTMLMediaElement[] {
    return this.elements.splice(0);
  }
}

/**
 * A LiveKit Room as far as VoiceSession uses it (`RoomLike`, which the real Room satisfies),
 * emitting the same events with the same arguments. Used only because no livekit-server
 * runs here.
 */
export class FakeRoom implements RoomLike {
  readonly localParticipant = new FakeLocalParticipant();
  readonly remoteParticipants = new Map<string, FakeRemoteParticipant>();
  readonly connects: { url: string; token: string }[] = [];
  connectError: Error | null = null;
  connected = false;
  audioStarted = false;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly textHandlers = new Map<string, TextHandler>();
  private streamCount = 0;

  /** Runs at the start of every connect(), to arrange what the room holds or refuses. */
  beforeConnect: ((room: FakeRoom) => void) | null = null;

  constructor(private readonly identity = "user-1") {}

  connect(url: string, token: string): Promise<void> {
    this.beforeConnect?.(this);
    this.connects.push({ url, token });
    if (this.connectError) return Promise.reject(this.connectError);
    this.connected = true;
    this.localParticipant.identity = this.identity;
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    if (this.connected) {
      this.connected = false;
      this.emit("disconnected", DisconnectReason.CLIENT_INITIATED);
    }
    return Promise.resolve();
  }

  startAudio(): Promise<void> {
    this.audioStarted = true;
    return Promise.resolve();
  }

  on<E extends keyof RoomEventCallbacks>(event: E, listener: RoomEventCallbacks[E]): this {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  off<E extends keyof RoomEventCallbacks>(event: E, listener: RoomEventCallbacks[E]): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  emit(event: keyof RoomEventCallbacks, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as (...a: unknown[]) => void)(...args);
  }

  listenerCount(event: keyof RoomEventCallbacks): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  registerTextStreamHandler(topic: string, callback: TextHandler): void {
    // livekit-client refuses a second handler for a topic; so does the fake
    if (this.textHandlers.has(topic)) throw new TypeError(`A text stream handler for topic "${topic}" has already been set.`);
    this.textHandlers.set(topic, callback);
  }

  unregisterTextStreamHandler(topic: string): void {
    this.textHandlers.delete(topic);
  }

  hasTextHandler(topic: string): boolean {
    return this.textHandlers.has(topic);
  }

  /** Opens a text stream from `identity` on `topic`; push chunks and close it on the result. */
  openTextStream(topic: string, identity: string, attributes: Record<string, string> = {}): FakeTextStream {
    const stream = new FakeTextStream(`stream-${++this.streamCount}`, topic, attributes);
    const handler = this.textHandlers.get(topic);
    if (handler) handler(stream, { identity });
    return stream;
  }

  /** One `lk.transcription` stream of a segment, as the agent publishes it. */
  transcription(identity: string, segmentId: string, final: boolean, trackId = "TR_user_mic"): FakeTextStream {
    return this.openTextStream("lk.transcription", identity, {
      [ATTR_SEGMENT_ID]: segmentId,
      [ATTR_TRANSCRIPTION_FINAL]: String(final),
      "lk.transcribed_track_id": trackId,
    });
  }

  addAgent(identity = "agent-1", state: AgentState = "initializing"): FakeRemoteParticipant {
    const agent = new FakeRemoteParticipant(identity);
    agent.attributes = { [ATTR_AGENT_STATE]: state };
    this.remoteParticipants.set(identity, agent);
    this.emit("participantConnected", agent);
    return agent;
  }

  setAgentState(agent: FakeRemoteParticipant, state: AgentState): void {
    agent.attributes = { ...agent.attributes, [ATTR_AGENT_STATE]: state };
    this.emit("participantAttributesChanged", { [ATTR_AGENT_STATE]: state }, agent);
  }

  removeParticipant(participant: FakeRemoteParticipant): void {
    this.remoteParticipants.delete(participant.identity);
    this.emit("participantDisconnected", participant);
  }

  /** livekit-server's periodic connection quality report for a participant. */
  setQuality(participant: FakeRemoteParticipant, quality: ConnectionQuality): void {
    this.emit("connectionQualityChanged", quality, participant);
  }

  /** livekit-client's full reconnect: the remote participants leave, then whoever rejoins. */
  fullReconnect(rejoining: FakeRemoteParticipant[]): void {
    for (const participant of [...this.remoteParticipants.values()]) this.removeParticipant(participant);
    this.emit("reconnecting");
    for (const participant of rejoining) this.remoteParticipants.set(participant.identity, participant);
    this.emit("reconnected");
  }

  subscribeAudio(from: FakeRemoteParticipant): FakeAudioTrack {
    const track = new FakeAudioTrack();
    this.emit("trackSubscribed", track, { trackSid: "TR_agent_audio" }, from);
    return track;
  }

  /** The server or the network ended the connection. */
  drop(reason: DisconnectReason = DisconnectReason.SERVER_SHUTDOWN): void {
    this.connected = false;
    this.emit("disconnected", reason);
  }
}

/** Resolves after pending promise callbacks (stream iteration, state updates) have run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
