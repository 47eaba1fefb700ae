// What audioTaps.js puts on the page's window, as driver.mjs reads it.
export interface TapRecording {
  /** Seconds on the taps' clock (WebAudio currentTime) of the first sample. */
  startTime: number;
  sampleRate: number;
  /** 16-bit little-endian mono PCM, base64. */
  pcm16: string;
}

export interface VoiceTaps {
  sampleRate: number;
  now(): number;
  agentTaps(): number;
  take(name: string): TapRecording | null;
}

declare global {
  interface Window {
    __voiceTaps: VoiceTaps;
  }
}
