import type { TranscriptMessage } from "@private-assistant/voice-desktop";

type MessageSink = (message: TranscriptMessage, session: { room: string }) => void;

declare global {
  interface Window {
    /** The `onMessage` the voice room was given: the tests replay recorded final transcripts
     * through it, since the room itself cannot connect in a web view without WebRTC. */
    voiceExampleMessageSink?: MessageSink;
  }
}

export function exposeMessageSink(sink: MessageSink): () => void {
  window.voiceExampleMessageSink = sink;
  return () => {
    if (window.voiceExampleMessageSink === sink) delete window.voiceExampleMessageSink;
  };
}
