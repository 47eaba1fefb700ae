import { parseEventLine } from "./parseEvent";
import { INITIAL_SIDECAR_STATE, sidecarReducer, type SidecarAction, type SidecarState } from "./sidecarState";
import { fixtureLines } from "./testing/fixtures";

function events(name: string): SidecarAction[] {
  return fixtureLines(name).map((line) => {
    const result = parseEventLine(line);
    if (!result.ok) throw new Error(result.reason);
    return { type: "event", event: result.event };
  });
}

function run(actions: SidecarAction[], from: SidecarState = INITIAL_SIDECAR_STATE): SidecarState {
  return actions.reduce(sidecarReducer, from);
}

const spawned: SidecarAction[] = [{ type: "spawn" }, { type: "spawned", pid: 7000 }];

describe("sidecarReducer", () => {
  it("reaches ready with the control API, services and log file", () => {
    const s = run([...spawned, ...events("normal-start")]);
    expect(s.phase).toBe("ready");
    expect(s.ready).toEqual({
      controlUrl: "http://127.0.0.1:53211",
      token: "fixture-token-normal-start",
      livekitUrl: "ws://127.0.0.1:7880",
      logFile: "/home/u/.local/state/private-assistant/log/voice-sidecar.log",
    });
    expect(s.version).toBe("0.1.0");
    expect(s.llmKey).toBe("available");
    expect(s.services.agent).toEqual({ state: "ready", restarts: 0, pid: 41251, message: null });
  });

  it("keeps the latest progress per model", () => {
    const actions = [...spawned, ...events("first-run-download")];
    const midway = run(actions.slice(0, 6));
    expect(midway.phase).toBe("starting");
    expect(midway.downloads.base).toMatchObject({
      kind: "whisper",
      phase: "model_download_progress",
      bytes: 108913149,
      total: 145217532,
      etaS: 2,
      done: false,
    });
    const s = run(actions);
    expect(Object.values(s.downloads).every((d) => d.done)).toBe(true);
  });

  it("records a missing key from the error event and the ready event", () => {
    const actions = [...spawned, ...events("missing-key")];
    expect(run(actions.slice(0, 7)).llmKey).toBe("missing");
    const s = run(actions);
    expect(s.llmKey).toBe("missing");
    expect(s.problems).toEqual([expect.objectContaining({ code: "missing_api_key", fatal: false })]);
    expect(run([{ type: "key_stored" }], s).llmKey).toBe("available");
  });

  it("names the last fatal error's code in a failure", () => {
    const s = run([
      ...spawned,
      ...events("crash-loop"),
      { type: "exited", code: 7, signal: null },
      { type: "failed", reason: "service_fatal", message: "m" },
    ]);
    expect(s).toMatchObject({ phase: "failed", ready: null, failure: { reason: "service_fatal", code: "service_fatal" } });
    expect(s.stopReason).toBe("fatal");
  });

  it("goes from stopping to stopped on exit, and counts restarts", () => {
    const ready = run([...spawned, ...events("normal-start")]);
    expect(run([{ type: "stop" }, { type: "exited", code: 0, signal: null }], ready)).toMatchObject({
      phase: "stopped",
      exit: { code: 0, signal: null },
      ready: null,
    });
    const restarting = run([{ type: "exited", code: 1, signal: null }, { type: "restart_scheduled", delayMs: 10 }], ready);
    expect(restarting).toMatchObject({ phase: "restarting", restarts: 1, nextRestartInMs: 10, ready: null });
    expect(run([{ type: "spawn" }], restarting)).toMatchObject({ phase: "spawning", restarts: 1, services: {} });
  });

  it("keeps the last stderr lines", () => {
    const s = run(Array.from({ length: 30 }, (_, i) => ({ type: "stderr", line: `l${i}` }) as const));
    expect(s.stderrTail).toHaveLength(20);
    expect(s.stderrTail.at(-1)).toBe("l29");
  });
});
