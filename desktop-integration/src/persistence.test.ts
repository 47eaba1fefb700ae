import { mockIPC } from "@tauri-apps/api/mocks";

import { createTauriMessageSink, toSavedMessage } from "./persistence";
import type { TranscriptMessage } from "./transcript";

const message: TranscriptMessage = {
  id: "SG_1",
  speaker: "assistant",
  text: "It is noon.",
  final: true,
  interrupted: false,
  startedAt: 1795671667040.4,
  participantIdentity: "agent-1",
};

describe("createTauriMessageSink", () => {
  it("invokes voice_save_message with one message", async () => {
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return null;
    });
    createTauriMessageSink()(message, { room: "pa-room-1" });
    await Promise.resolve();
    expect(calls).toEqual([
      {
        cmd: "voice_save_message",
        args: {
          message: { room: "pa-room-1", segmentId: "SG_1", role: "assistant", text: "It is noon.", interrupted: false, startedAt: 1795671667040 },
        },
      },
    ]);
  });

  it("reports a failed save without throwing", async () => {
    mockIPC(() => {
      throw new Error("database is locked");
    });
    const onError = vi.fn();
    expect(() => {
      createTauriMessageSink({ onError })(message, { room: "r" });
    }).not.toThrow();
    await vi.waitFor(() => {
      expect(onError).toHaveBeenCalledWith(expect.anything(), toSavedMessage(message, { room: "r" }));
    });
  });
});
