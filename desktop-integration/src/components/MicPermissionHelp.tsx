import type { Platform } from "../format";

const STEPS: Record<Platform, string> = {
  windows:
    "Open Settings › Privacy & security › Microphone, turn on “Microphone access” and “Let desktop apps access your microphone”, then press Try again.",
  macos:
    "Open System Settings › Privacy & Security › Microphone and turn on private-assistant, then press Try again (macOS may ask you to reopen the app).",
  linux:
    "Check that a microphone is connected, selected as the input in your sound settings (PipeWire or PulseAudio) and not muted, then press Try again.",
  other: "Allow this app to use the microphone in your system settings, then press Try again.",
};

export function MicPermissionHelp({ platform }: { platform: Platform }) {
  return <p className="vr-help">{STEPS[platform]}</p>;
}
