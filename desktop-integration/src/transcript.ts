import { ATTR_SEGMENT_ID, ATTR_TRANSCRIPTION_FINAL } from "./protocol";

export type Speaker = "user" | "assistant";

export interface TranscriptMessage {
  /** `lk.segment_id`, or the stream id when the sender gave none. */
  id: string;
  speaker: Speaker;
  text: string;
  final: boolean;
  /** The assistant's reply was cut off (barge-in or a lost stream): the text is what was sent. */
  interrupted: boolean;
  /** When the segment's first stream was opened (ms since the Unix epoch, sender's clock). */
  startedAt: number;
  participantIdentity: string;
}

/** What `lk.transcription` hands us: the shape shared by livekit-client's TextStreamReader. */
export interface TextStreamReaderLike {
  readonly info: {
    readonly id: string;
    readonly topic: string;
    readonly timestamp: number;
    readonly attributes?: Record<string, string>;
  };
  [Symbol.asyncIterator](): AsyncIterator<string>;
}

export const MAX_TRANSCRIPT_MESSAGES = 500;

/**
 * Turns `lk.transcription` text streams into transcript messages.
 *
 * - Each stream carries one segment (`lk.segment_id`). A user's interim results arrive as
 *   successive streams of the same segment, each with the whole text so far, so a new
 *   stream replaces the segment's text; the assistant's reply arrives as one stream of
 *   deltas, appended as they come.
 * - A segment is final when `lk.transcription_final` is "true", in the header or in the
 *   trailer (livekit-client merges trailer attributes into `reader.info` at the end). An
 *   assistant stream that ends normally is final too: the agent closes it when the
 *   segment is complete.
 * - `onFinal` is called exactly once per segment; later streams of a final segment are
 *   ignored.
 */
export class TranscriptAssembler {
  private messages: TranscriptMessage[] = [];
  private readonly finals = new Set<string>();
  private readonly latestStream = new Map<string, string>();

  constructor(
    private readonly onChange: (messages: readonly TranscriptMessage[]) => void,
    private readonly onFinal: (message: TranscriptMessage) => void,
  ) {}

  get current(): readonly TranscriptMessage[] {
    return this.messages;
  }

  clear(): void {
    this.messages = [];
    this.finals.clear();
    this.latestStream.clear();
    this.onChange(this.messages);
  }

  async consume(reader: TextStreamReaderLike, participantIdentity: string, speaker: Speaker): Promise<void> {
    const id = reader.info.attributes?.[ATTR_SEGMENT_ID] ?? reader.info.id;
    if (this.finals.has(id)) return;
    this.latestStream.set(id, reader.info.id);
    const isLatest = () => this.latestStream.get(id) === reader.info.id;
    const startedAt = reader.info.timestamp;
    let text = "";
    let interrupted = false;
    this.upsert({ id, speaker, text, final: false, interrupted, startedAt, participantIdentity });
    try {
      for await (const chunk of reader) {
        text += chunk;
        if (isLatest() && !this.finals.has(id)) {
          this.upsert({ id, speaker, text, final: false, interrupted, startedAt, participantIdentity });
        }
      }
    } catch {
      interrupted = true;
    }
    if (!isLatest() || this.finals.has(id)) return;
    const flagged = reader.info.attributes?.[ATTR_TRANSCRIPTION_FINAL] === "true";
    const final = flagged || speaker === "assistant";
    const message = { id, speaker, text, final, interrupted, startedAt, participantIdentity };
    this.upsert(message);
    if (final) {
      this.finals.add(id);
      this.latestStream.delete(id);
      if (text.trim() !== "") this.onFinal(message);
    }
  }

  private upsert(message: TranscriptMessage): void {
    const index = this.messages.findIndex((m) => m.id === message.id);
    const existing = index === -1 ? undefined : this.messages[index];
    const next = existing ? { ...message, startedAt: existing.startedAt } : message;
    this.messages =
      index === -1
        ? [...this.messages, next].slice(-MAX_TRANSCRIPT_MESSAGES)
        : this.messages.map((m, i) => (i === index ? next : m));
    this.onChange(this.messages);
  }
}
