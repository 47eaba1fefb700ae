import type { RoomLike } from "../src/livekit";
import { FakeRoom } from "../src/testing/fakeRoom";

/**
 * Demo mode (`?demo`): the room fake of the tests, playing a short scripted exchange so the
 * UI can be seen without a backend. Nothing here talks to a server.
 */
export function createDemoRoom(): RoomLike {
  const room = new FakeRoom("user-demo");
  room.beforeConnect = (r) => {
    const steps: [number, () => void][] = [];
    let agent: ReturnType<FakeRoom["addAgent"]> | null = null;
    const say = (identity: string, segment: string, text: string, final: boolean) => {
      const stream = r.transcription(identity, segment, false);
      stream.push(text).close(final ? { "lk.transcription_final": "true" } : {});
    };
    const agentState = (state: "listening" | "thinking" | "speaking") => {
      if (agent) r.setAgentState(agent, state);
    };
    steps.push([300, () => { agent = r.addAgent("assistant-demo", "listening"); }]);
    steps.push([700, () => { say("user-demo", "U1", "What's on my calendar", false); }]);
    steps.push([1100, () => { say("user-demo", "U1", "What's on my calendar tomorrow?", true); }]);
    steps.push([1200, () => { agentState("thinking"); }]);
    steps.push([1700, () => { agentState("speaking"); }]);
    steps.push([1800, () => { say("assistant-demo", "A1", "You have a dentist appointment at ten and lunch with Maya at one.", true); }]);
    steps.push([
      1900,
      () => {
        r.openTextStream("pa.latency", "assistant-demo")
          .push('{"end_of_turn_s":0.55,"stt_s":0.39,"llm_ttft_s":0.21,"llm_first_sentence_s":0.12,"tts_ttfb_s":0.08,"e2e_s":1.18}')
          .close();
      },
    ]);
    steps.push([2300, () => { agentState("listening"); }]);
    steps.push([2600, () => { say("user-demo", "U2", "Move lunch to", false); }]);
    for (const [delay, step] of steps) setTimeout(step, delay);
  };
  return room;
}
