// Step 6 of ../../README.md as written there; the lines marked "example app" are the
// additions the driven tests (tests/test_example_app.py) read.
import { useEffect, useMemo } from "react";
import {
  SidecarController,
  VoiceRoom,
  createTauriMessageSink,
  stopSidecarOnExit,
  supportsWebRtc,
  useSidecar,
  useVoiceFallback,
  type PersonaOption,
} from "@private-assistant/voice-desktop";
import "@private-assistant/voice-desktop/voice-room.css";

import { PushToTalk } from "./PushToTalk";
import { exposeMessageSink } from "./testHooks"; // example app

// one controller for the app's lifetime, created outside React
const voiceSidecar = new SidecarController();
void stopSidecarOnExit(voiceSidecar);

const PERSONAS: PersonaOption[] = [
  { id: "default", label: "Assistant", persona: { name: "Assistant", language: "en" } },
];

export function VoicePanel({ recentHistory }: { recentHistory: { role: "user" | "assistant"; text: string }[] }) {
  const sidecar = useSidecar(voiceSidecar); // starts it on first mount
  const fallback = useVoiceFallback(sidecar.state, (info) => {
    console.warn(`voice: push-to-talk fallback (${info.reason}): ${info.message}`);
  });
  const onMessage = useMemo(() => createTauriMessageSink(), []);
  useEffect(() => exposeMessageSink(onMessage), [onMessage]); // example app

  return (
    <>
      <p data-testid="backend-phase">Voice backend: {sidecar.state.phase}</p> {/* example app */}
      {fallback.active ? <PushToTalk notice={fallback.message} /> : null}
      <VoiceRoom
        sidecar={sidecar.state}
        personas={PERSONAS}
        history={recentHistory.slice(-20)}
        onMessage={onMessage}
        onRetryBackend={() => void sidecar.retry()}
        onKeyStored={sidecar.markKeyStored}
        webrtcSupported={supportsWebRtc()}
      />
    </>
  );
}
