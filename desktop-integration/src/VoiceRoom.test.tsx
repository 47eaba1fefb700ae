import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { StrictMode } from "react";

import type { PersonaOption } from "./components/PersonaSelect";
import type { SidecarState } from "./sidecarState";
import { fakeControlFetch, SESSION_RESPONSE, type Route } from "./testing/fakeControlApi";
import { FakeRoom, flush, type FakeRemoteParticipant } from "./testing/fakeRoom";
import { stateAfter } from "./testing/sidecarStates";
import { VoiceRoom, type VoiceRoomProps } from "./VoiceRoom";

const PERSONAS: PersonaOption[] = [
  { id: "ada", label: "Ada (concise)", persona: { name: "Ada", instructions: "Be brief.", language: "en" } },
  { id: "max", label: "Max (chatty)", persona: { name: "Max", instructions: "Be warm.", voice: "en_US-joe-medium" } },
];

function renderRoom(
  sidecar: SidecarState,
  options: { routes?: Record<string, Route | (() => Route)>; props?: Partial<VoiceRoomProps>; room?: FakeRoom } = {},
) {
  const control = fakeControlFetch({
    "GET /key/status": { status: 200, body: { available: true, source: "keyring" } },
    "POST /session": { status: 200, body: SESSION_RESPONSE },
    ...options.routes,
  });
  const rooms: FakeRoom[] = [];
  const onMessage = vi.fn<NonNullable<VoiceRoomProps["onMessage"]>>();
  const hooks: { beforeConnect: ((room: FakeRoom) => void) | null } = { beforeConnect: null };
  const props: VoiceRoomProps = {
    sidecar,
    personas: PERSONAS,
    fetch: control.fetch,
    createRoom: () => {
      const room = options.room ?? new FakeRoom("user-1");
      room.beforeConnect = (r) => hooks.beforeConnect?.(r);
      rooms.push(room);
      return room;
    },
    onMessage,
    platform: "windows",
    reconnect: { initialDelayMs: 10, factor: 1, maxDelayMs: 10, maxAttempts: 1 },
    ...options.props,
  };
  const utils = render(<VoiceRoom {...props} />);
  return { ...utils, control, rooms, hooks, onMessage, user: userEvent.setup(), props };
}

const ready = () => stateAfter("normal-start");

describe("VoiceRoom", () => {
  it("shows model download progress while the backend starts, and cannot start a call yet", () => {
    renderRoom(stateAfter("first-run-download", [], 3));
    expect(screen.getByText("Starting the voice backend…")).toBeInTheDocument();
    const progress = screen.getByRole("progressbar", { name: "Downloading base" });
    expect(progress).toHaveAttribute("value", "36304383");
    expect(screen.getByText("base: 25 %, 34.6 MB of 138 MB, about 6.00 s left")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Start conversation" })).toBeDisabled();
  });

  it("without WebRTC shows the backend and the key form, and cannot start a call", async () => {
    // Debian 12's WebKitGTK: RTCPeerConnection is undefined, the backend still runs
    const t = renderRoom(stateAfter("missing-key"), {
      routes: { "GET /key/status": { status: 200, body: { available: false, source: null } } },
      props: { webrtcSupported: false, autoStart: true },
    });
    expect(await screen.findByTestId("api-key-form")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Start conversation" })).toBeDisabled();
    expect(screen.getByTestId("no-webrtc")).toHaveTextContent("no WebRTC");
    expect(t.rooms).toHaveLength(0);
    expect(t.control.requests.filter((r) => r.path === "/session")).toHaveLength(0);
  });

  it("shows a download of unknown size as indeterminate", () => {
    renderRoom(stateAfter("first-run-download", [], 9));
    const progress = screen.getByRole("progressbar", { name: "Downloading en_US-joe-medium" });
    expect(progress).not.toHaveAttribute("value");
    expect(screen.getByText("en_US-joe-medium: 30.0 MB")).toBeInTheDocument();
    expect(screen.queryByRole("progressbar", { name: "Downloading base" })).not.toBeInTheDocument();
  });

  it("says when a download waits for another one", () => {
    renderRoom(stateAfter("first-run-download", [], 7));
    expect(screen.getByText("en_US-joe-medium: waiting (waiting for another download of this model to finish)")).toBeInTheDocument();
  });

  it("shows a download that is being retried, then a failed one with the backend failure", () => {
    const { unmount } = renderRoom(stateAfter("model-download-failed", [], 4));
    expect(screen.getByText("base: retrying (connection reset; retrying in 2 s (attempt 2 of 3))")).toBeInTheDocument();
    unmount();
    renderRoom(
      stateAfter("model-download-failed", [
        { type: "exited", code: 4, signal: null },
        { type: "failed", reason: "model_fetch_failed", message: "The speech model 'base' could not be downloaded: connection reset. Check the internet connection and try again." },
      ]),
    );
    expect(screen.getByTestId("backend-failed")).toHaveTextContent("could not be downloaded");
  });

  it("runs a conversation: status, live transcript, latency, persistence, stop", async () => {
    const t = renderRoom(ready());
    expect(screen.getByTestId("agent-status")).toHaveTextContent("Not in a conversation");
    await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
    await waitFor(() => {
      expect(screen.getByTestId("agent-status")).toHaveTextContent("Waiting for the assistant…");
    });
    const session = t.control.requests.find((r) => r.path === "/session");
    expect(session?.headers.get("Authorization")).toBe("Bearer fixture-token-normal-start");
    expect(session?.body).toEqual({ version: 1, persona: PERSONAS[0]!.persona });
    const room = t.rooms[0]!;

    let agent!: FakeRemoteParticipant;
    act(() => {
      agent = room.addAgent("agent-1", "listening");
    });
    expect(screen.getByTestId("agent-status")).toHaveTextContent("Listening");
    await act(async () => {
      room.transcription("user-1", "U1", false).push("what's the").close();
      await flush();
    });
    const log = screen.getByRole("log", { name: "Transcript" });
    expect(within(log).getByText("what's the")).toBeInTheDocument();
    expect(within(log).getByText("(still listening)")).toBeInTheDocument();
    await act(async () => {
      room.transcription("user-1", "U1", true).push("What's the weather?").close();
      room.setAgentState(agent, "thinking");
      await flush();
    });
    expect(screen.getByTestId("agent-status")).toHaveTextContent("Thinking");
    expect(within(log).getByText("What's the weather?")).toBeInTheDocument();
    expect(within(log).queryByText("(still listening)")).not.toBeInTheDocument();

    await act(async () => {
      room.setAgentState(agent, "speaking");
      room.transcription("agent-1", "A1", false, "TR_agent").push("Sunny and warm.").close({ "lk.transcription_final": "true" });
      room.openTextStream("pa.latency", "agent-1").push('{"end_of_turn_s":0.55,"stt_s":0.39,"llm_ttft_s":0.2,"llm_first_sentence_s":0.13,"tts_ttfb_s":0.08,"e2e_s":1.21}').close();
      await flush(10);
    });
    expect(screen.getByTestId("agent-status")).toHaveTextContent("Speaking");
    expect(within(log).getByText("Ada")).toBeInTheDocument();
    expect(within(log).getByText("Sunny and warm.")).toBeInTheDocument();
    const latency = screen.getByRole("region", { name: "Latency of the last turn" });
    expect(latency).toHaveTextContent("Last reply started 1.21 s after you stopped speaking.");
    expect(latency).toHaveTextContent("LLM first token200 ms");
    expect(t.onMessage.mock.calls.map(([m, s]) => [m.speaker, m.text, s.room])).toEqual([
      ["user", "What's the weather?", "pa-room-1"],
      ["assistant", "Sunny and warm.", "pa-room-1"],
    ]);

    await t.user.click(screen.getByRole("button", { name: "Stop conversation" }));
    expect(screen.getByTestId("agent-status")).toHaveTextContent("Not in a conversation");
    expect(room.connected).toBe(false);
  });

  it("sends the chosen persona and history, and locks the persona during a call", async () => {
    const history = [{ role: "user" as const, text: "Remember my name is Sam." }];
    const t = renderRoom(ready(), { props: { history } });
    await t.user.selectOptions(screen.getByLabelText("Persona"), "max");
    await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
    await waitFor(() => {
      expect(screen.getByLabelText("Persona")).toBeDisabled();
    });
    expect(t.control.requests.find((r) => r.path === "/session")?.body).toEqual({
      version: 1,
      persona: PERSONAS[1]!.persona,
      history,
    });
    expect(screen.getByText("Stop the conversation to change the persona.")).toBeInTheDocument();
  });

  it("mutes the microphone with a toggle button", async () => {
    const t = renderRoom(ready());
    await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
    const mute = await screen.findByRole("button", { name: "Mute microphone" });
    await waitFor(() => {
      expect(mute).toBeEnabled();
    });
    expect(mute).toHaveAttribute("aria-pressed", "false");
    await t.user.click(mute);
    expect(screen.getByRole("button", { name: "Unmute microphone" })).toHaveAttribute("aria-pressed", "true");
    expect(t.rooms[0]!.localParticipant.micCalls.map((c) => c.enabled)).toEqual([true, false]);
  });

  it("starts by itself once the backend is ready when autoStart is set", async () => {
    const t = renderRoom(stateAfter("first-run-download", [], 3), { props: { autoStart: true } });
    expect(t.rooms).toHaveLength(0);
    t.rerender(<VoiceRoom {...t.props} sidecar={ready()} />);
    await waitFor(() => {
      expect(screen.getByRole("button", { name: "Stop conversation" })).toBeInTheDocument();
    });
    expect(t.control.requests.filter((r) => r.path === "/session")).toHaveLength(1);
  });

  it("auto-starts exactly one call under StrictMode's double mount", async () => {
    const t = renderRoom(ready(), { props: { autoStart: true } });
    t.unmount();
    const again = renderRoom(ready(), { props: { autoStart: true } });
    again.rerender(
      <StrictMode>
        <VoiceRoom {...again.props} />
      </StrictMode>,
    );
    await waitFor(() => {
      expect(screen.getByRole("button", { name: "Stop conversation" })).toBeInTheDocument();
    });
    await act(() => flush(10));
    expect(again.rooms.filter((r) => r.connected)).toHaveLength(1);
  });

  it("is usable from the keyboard alone", async () => {
    const t = renderRoom(ready());
    await t.user.tab();
    expect(screen.getByLabelText("Persona")).toHaveFocus();
    await t.user.tab();
    expect(screen.getByRole("button", { name: "Start conversation" })).toHaveFocus();
    await t.user.keyboard("{Enter}");
    await waitFor(() => {
      expect(screen.getByRole("button", { name: "Stop conversation" })).toBeInTheDocument();
    });
    expect(t.rooms).toHaveLength(1);
  });

  describe("error states", () => {
    it("no API key: offers the key form and stores the key through PUT /key", async () => {
      const onKeyStored = vi.fn();
      const t = renderRoom(stateAfter("missing-key"), {
        routes: {
          "GET /key/status": { status: 200, body: { available: false, source: "missing" } },
          "PUT /key": { status: 204 },
        },
        props: { onKeyStored },
      });
      const form = await screen.findByRole("form", { name: "Add your Nebius API key" });
      const input = within(form).getByLabelText("API key");
      expect(input).toHaveAttribute("type", "password");
      await t.user.type(input, "nb-123456");
      await t.user.click(within(form).getByRole("button", { name: "Save key" }));
      await waitFor(() => {
        expect(screen.queryByRole("form", { name: "Add your Nebius API key" })).not.toBeInTheDocument();
      });
      const put = t.control.requests.find((r) => r.method === "PUT");
      expect(put).toMatchObject({ path: "/key", body: { name: "nebius", key: "nb-123456" } });
      expect(onKeyStored).toHaveBeenCalledOnce();
    });

    it.each([
      [422, { error: { code: "invalid_key", message: "A Nebius key is 40 or more characters." } }, "A Nebius key is 40 or more characters."],
      [503, { error: { code: "keyring_unavailable", message: "no keyring backend" } }, "Set NEBIUS_API_KEY in the environment instead."],
    ])("no API key: shows why PUT /key answered %i", async (status, body, shown) => {
      const t = renderRoom(stateAfter("missing-key"), {
        routes: {
          "GET /key/status": { status: 200, body: { available: false, source: "missing" } },
          "PUT /key": { status, body },
        },
      });
      const form = await screen.findByRole("form", { name: "Add your Nebius API key" });
      await t.user.type(within(form).getByLabelText("API key"), "short");
      await t.user.keyboard("{Enter}");
      expect(await within(form).findByRole("alert")).toHaveTextContent(shown);
      expect(within(form).getByLabelText("API key")).toHaveAttribute("aria-invalid", "true");
    });

    it("no API key: trusts the ready event until /key/status answers", () => {
      renderRoom(stateAfter("missing-key"), {
        routes: { "GET /key/status": { status: 503, body: { error: { code: "not_ready", message: "x" } } } },
      });
      expect(screen.getByRole("form", { name: "Add your Nebius API key" })).toBeInTheDocument();
    });

    it("backend not starting: says why, where the log is, offers a retry, and takes focus", async () => {
      const onRetryBackend = vi.fn();
      const failed = stateAfter("livekit-not-found", [
        { type: "exited", code: 5, signal: null },
        { type: "failed", reason: "livekit_not_found", message: "livekit-server was found neither next to voice-sidecar, nor in LIVEKIT_SERVER_BIN, the cache or PATH." },
      ]);
      const t = renderRoom(failed, { props: { onRetryBackend } });
      const alert = screen.getByTestId("backend-failed");
      expect(alert).toHaveAttribute("role", "alert");
      expect(within(alert).getByRole("heading", { name: "The voice backend could not start" })).toHaveFocus();
      expect(alert).toHaveTextContent("livekit-server was found neither");
      expect(within(alert).getByText("/home/u/.local/state/private-assistant/log/voice-sidecar.log")).toBeInTheDocument();
      expect(alert).toHaveTextContent("Push-to-talk still works");
      await t.user.click(within(alert).getByRole("button", { name: "Try again" }));
      expect(onRetryBackend).toHaveBeenCalledOnce();
      expect(screen.getByRole("button", { name: "Start conversation" })).toBeDisabled();
    });

    it("backend not starting before it named a log file: says how to see the output", () => {
      renderRoom(
        stateAfter("config-invalid", [
          { type: "exited", code: 2, signal: null },
          { type: "failed", reason: "config_invalid", message: "stt.beam_size = 0 (from VOICE_SIDECAR_STT_BEAM_SIZE) must be at least 1." },
        ]),
      );
      expect(screen.getByTestId("backend-failed")).toHaveTextContent("run `voice-sidecar up` in a terminal");
    });

    it("backend restarting: says so", () => {
      renderRoom(stateAfter("normal-start", [{ type: "exited", code: 1, signal: null }, { type: "restart_scheduled", delayMs: 1000 }]));
      expect(screen.getByText("The voice backend stopped unexpectedly; restarting it (attempt 1)…")).toBeInTheDocument();
    });

    it("LLM unreachable: explains and can be dismissed", async () => {
      const t = renderRoom(
        stateAfter("normal-start", [
          {
            type: "event",
            event: { v: 1, event: "error", time: 1795671700, code: "llm_unreachable", message: "api.studio.nebius.com did not answer within 15 s.", fatal: false },
          },
        ]),
      );
      const alert = screen.getByTestId("llm-unreachable");
      expect(within(alert).getByRole("heading")).toHaveTextContent("The language model cannot be reached");
      expect(alert).toHaveTextContent("did not answer within 15 s");
      expect(alert).toHaveTextContent("llm.base_url");
      await t.user.click(within(alert).getByRole("button", { name: "Dismiss" }));
      expect(screen.queryByTestId("llm-unreachable")).not.toBeInTheDocument();
    });

    it("no microphone permission: tells how to allow it on this OS and retries", async () => {
      const room = new FakeRoom("user-1");
      room.localParticipant.micError = new DOMException("Permission denied", "NotAllowedError");
      const t = renderRoom(ready(), { room });
      await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
      const alert = await screen.findByTestId("mic-error");
      expect(within(alert).getByRole("heading", { name: "Microphone access is blocked" })).toHaveFocus();
      expect(alert).toHaveTextContent("Let desktop apps access your microphone");
      room.localParticipant.micError = null;
      await t.user.click(within(alert).getByRole("button", { name: "Try again" }));
      await waitFor(() => {
        expect(screen.queryByTestId("mic-error")).not.toBeInTheDocument();
      });
    });

    it.each([
      ["macos", "System Settings › Privacy & Security › Microphone"],
      ["linux", "PipeWire or PulseAudio"],
    ] as const)("no microphone permission on %s", async (platform, text) => {
      const room = new FakeRoom("user-1");
      room.localParticipant.micError = new DOMException("Permission denied", "NotAllowedError");
      const t = renderRoom(ready(), { room, props: { platform } });
      await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
      expect(await screen.findByTestId("mic-error")).toHaveTextContent(text);
    });

    it("no microphone at all", async () => {
      const room = new FakeRoom("user-1");
      room.localParticipant.micError = new DOMException("Requested device not found", "NotFoundError");
      const t = renderRoom(ready(), { room });
      await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
      const alert = await screen.findByTestId("mic-error");
      expect(within(alert).getByRole("heading")).toHaveTextContent("The microphone is not available");
      expect(alert).toHaveTextContent("No microphone was found.");
    });

    it("session refused by the backend", async () => {
      const t = renderRoom(ready(), {
        routes: { "POST /session": { status: 422, body: { error: { code: "invalid_persona", message: "persona.voice is not installed." } } } },
      });
      await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
      const alert = await screen.findByTestId("call-error");
      expect(alert).toHaveTextContent("persona.voice is not installed.");
      expect(screen.getByTestId("agent-status")).toHaveTextContent("Disconnected");
      await t.user.click(within(alert).getByRole("button", { name: "Dismiss" }));
      expect(screen.queryByTestId("call-error")).not.toBeInTheDocument();
    });

    it("assistant busy: the server's line under its own title, and Try again asks again", async () => {
      const busy = "The assistant is busy with other conversations; try again in a minute (or raise worker.max_conversations)";
      const t = renderRoom(ready(), {
        routes: { "POST /session": { status: 503, body: { error: { code: "assistant_busy", message: busy } } } },
      });
      await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
      const alert = await screen.findByTestId("call-error");
      expect(within(alert).getByRole("heading")).toHaveTextContent("The assistant is busy");
      expect(alert).toHaveTextContent(busy);
      expect(screen.getByTestId("agent-status")).toHaveTextContent("Disconnected");
    });

    it("connection lost and not regained", async () => {
      const t = renderRoom(ready());
      await t.user.click(screen.getByRole("button", { name: "Start conversation" }));
      await waitFor(() => {
        expect(t.rooms).toHaveLength(1);
      });
      t.hooks.beforeConnect = (r) => {
        r.connectError = new Error("could not establish signal connection");
      };
      act(() => {
        t.rooms[0]!.drop();
      });
      const alert = await screen.findByTestId("call-error");
      expect(alert).toHaveTextContent("Could not join the voice room");
      expect(t.rooms).toHaveLength(2);
      t.hooks.beforeConnect = null;
      await t.user.click(within(alert).getByRole("button", { name: "Try again" }));
      await waitFor(() => {
        expect(screen.getByRole("button", { name: "Stop conversation" })).toBeInTheDocument();
      });
    });
  });
});
