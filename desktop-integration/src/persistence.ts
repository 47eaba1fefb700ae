import { invoke } from "@tauri-apps/api/core";

import type { TranscriptMessage } from "./transcript";

/** The Tauri command (Rust) that stores one final transcript message; see README.md. */
export const SAVE_MESSAGE_COMMAND = "voice_save_message";

/** The argument of `voice_save_message`, camelCase as Tauri maps it to Rust's snake_case. */
export interface SavedVoiceMessage {
  /** LiveKit room name: one per conversation. */
  room: string;
  /** `lk.segment_id`: unique within the room, the idempotency key. */
  segmentId: string;
  role: "user" | "assistant";
  text: string;
  interrupted: boolean;
  /** Milliseconds since the Unix epoch. */
  startedAt: number;
}

export function toSavedMessage(message: TranscriptMessage, session: { room: string }): SavedVoiceMessage {
  return {
    room: session.room,
    segmentId: message.id,
    role: message.speaker,
    text: message.text,
    interrupted: message.interrupted,
    startedAt: Math.round(message.startedAt),
  };
}

/**
 * An `onMessage` callback that stores each final message through the app's Tauri command.
 * A failed save is reported to `onError` (default: console) and never breaks the call.
 */
export function createTauriMessageSink(
  options: { command?: string; onError?: (error: unknown, message: SavedVoiceMessage) => void } = {},
): (message: TranscriptMessage, session: { room: string }) => void {
  const command = options.command ?? SAVE_MESSAGE_COMMAND;
  const onError =
    options.onError ??
    ((error: unknown) => {
      console.warn(`voice: ${command} failed: ${String(error)}`);
    });
  return (message, session) => {
    const saved = toSavedMessage(message, session);
    invoke(command, { message: saved }).catch((error: unknown) => {
      onError(error, saved);
    });
  };
}
