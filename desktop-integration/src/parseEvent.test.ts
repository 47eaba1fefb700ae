import { LineSplitter } from "./lineSplitter";
import { describeLine, parseEventLine } from "./parseEvent";
import type { SidecarEvent } from "./protocol";
import { FIXTURE_NAMES, fixtureLines, fixtureText } from "./testing/fixtures";

function parseAll(text: string, chunkSize: number): SidecarEvent[] {
  const splitter = new LineSplitter();
  const events: SidecarEvent[] = [];
  const take = (lines: string[]) => {
    for (const line of lines) {
      const result = parseEventLine(line);
      if (!result.ok) throw new Error(`${result.reason}: ${line}`);
      events.push(result.event);
    }
  };
  for (let i = 0; i < text.length; i += chunkSize) take(splitter.push(text.slice(i, i + chunkSize)));
  take(splitter.end());
  return events;
}

describe("parseEventLine with the fixture streams", () => {
  it("has fixtures", () => {
    expect(FIXTURE_NAMES.length).toBeGreaterThanOrEqual(8);
  });

  it.each(FIXTURE_NAMES)("parses every line of %s", (name) => {
    for (const line of fixtureLines(name)) {
      const result = parseEventLine(line);
      expect(result, line).toMatchObject({ ok: true });
    }
  });

  it.each(FIXTURE_NAMES)("gives the same events for %s whatever the chunking, LF or CRLF", (name) => {
    const text = fixtureText(name);
    const whole = parseAll(text, text.length);
    expect(whole).toHaveLength(fixtureLines(name).length);
    for (const size of [1, 7, 64]) {
      expect(parseAll(text, size)).toEqual(whole);
      expect(parseAll(text.replace(/\n/g, "\r\n"), size)).toEqual(whole);
    }
  });

  it("reads the ready event of normal-start", () => {
    const events = parseAll(fixtureText("normal-start"), 10);
    expect(events.map((e) => e.event)).toEqual(["starting", "service", "service", "service", "service", "ready"]);
    expect(events.at(-1)).toEqual({
      v: 1,
      event: "ready",
      time: 1795671667.04,
      control_url: "http://127.0.0.1:53211",
      token: "fixture-token-normal-start",
      livekit_url: "ws://127.0.0.1:7880",
      log_file: "/home/u/.local/state/private-assistant/log/voice-sidecar.log",
      llm_key: "available",
    });
  });

  it("reads model progress with unknown totals", () => {
    const progress = parseAll(fixtureText("first-run-download"), 33).filter((e) => e.event === "model_progress");
    expect(progress).toHaveLength(9);
    expect(progress[5]).toMatchObject({
      model: "en_US-joe-medium",
      kind: "piper",
      phase: "model_download_waiting",
      file: null,
      total: null,
      rate_bps: null,
      done: false,
      message: "waiting for another download of this model to finish",
    });
    expect(progress[7]).toMatchObject({ phase: "model_download_progress", total: null, rate_bps: 15728640 });
  });

  it("accepts the protocol document's own example", () => {
    const example =
      '{"v": 1, "event": "ready", "time": 1795671667.04, "control_url": "http://127.0.0.1:53211", "token": "q3…", "livekit_url": "ws://127.0.0.1:7880", "log_file": "/home/u/.local/state/private-assistant/log/voice-sidecar.log", "llm_key": "available"}';
    expect(parseEventLine(example)).toMatchObject({ ok: true, event: { event: "ready", token: "q3…" } });
  });
});

describe("parseEventLine with garbage", () => {
  it.each([
    ["not JSON", "Traceback (most recent call last):", "not JSON"],
    ["a truncated line", '{"v": 1, "event": "ready", "time": 1', "not JSON"],
    ["an array", "[1, 2]", "not a JSON object"],
    ["another version", '{"v": 2, "event": "starting", "time": 1}', "protocol version 2 is not 1"],
    ["no version", '{"event": "starting", "time": 1}', "protocol version undefined is not 1"],
    ["an unknown event", '{"v": 1, "event": "telemetry", "time": 1}', 'unknown event "telemetry"'],
    ["a missing field", '{"v": 1, "event": "starting", "time": 1, "version": "0.1", "pid": 3}', '"log_file" must be a string'],
    ["a mistyped field", '{"v": 1, "event": "error", "time": 1, "code": "x", "message": "m", "fatal": "yes"}', '"fatal" must be a boolean'],
    ["a model_progress without kind", '{"v": 1, "event": "model_progress", "time": 1, "model": "base", "phase": "model_download_started", "file": null, "bytes": 0, "total": null, "rate_bps": null, "eta_s": null, "done": false, "message": null}', '"kind" must be a string'],
    ["a fractional pid", '{"v": 1, "event": "starting", "time": 1, "version": "0.1", "pid": 3.5, "log_file": "l"}', '"pid" must be an integer'],
    ["an unknown service state", '{"v": 1, "event": "service", "time": 1, "service": "agent", "state": "sleeping", "restarts": 0, "pid": null, "message": null}', '"state" is "sleeping"'],
    ["an unknown stop reason", '{"v": 1, "event": "stopped", "time": 1, "reason": "bored"}', '"reason" is "bored"'],
    ["a non-loopback control URL", '{"v": 1, "event": "ready", "time": 1, "control_url": "http://10.0.0.2:5000", "token": "t", "livekit_url": "ws://127.0.0.1:7880", "log_file": "l", "llm_key": "available"}', '"control_url" must be http://127.0.0.1:<port>'],
  ])("reports %s", (_label, line, reason) => {
    const result = parseEventLine(line);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it("keeps unknown error codes and ignores extra fields (forward compatible)", () => {
    const result = parseEventLine(
      '{"v": 1, "event": "error", "time": 5, "code": "llm_unreachable", "message": "m", "fatal": false, "extra": 1}',
    );
    expect(result).toEqual({
      ok: true,
      event: { v: 1, event: "error", time: 5, code: "llm_unreachable", message: "m", fatal: false },
    });
  });

  it("reads a ready event sent before the keyring answered (llm_key unknown)", () => {
    const result = parseEventLine(
      '{"v": 1, "event": "ready", "time": 1, "control_url": "http://127.0.0.1:5000", "token": "t", "livekit_url": "ws://127.0.0.1:7880", "log_file": "l", "llm_key": "unknown"}',
    );
    expect(result).toMatchObject({ ok: true, event: { event: "ready", llm_key: "unknown" } });
  });

  it("reads why a service failed for good from the final service_fatal event", () => {
    const result = parseEventLine(
      '{"v": 1, "event": "error", "time": 5, "code": "service_fatal", "message": "m", "fatal": true, "service": "agent", "exit_code": null, "signal": "SIGSEGV", "log_tail": ["a", "b"]}',
    );
    expect(result).toEqual({
      ok: true,
      event: {
        v: 1,
        event: "error",
        time: 5,
        code: "service_fatal",
        message: "m",
        fatal: true,
        service: "agent",
        exit_code: null,
        signal: "SIGSEGV",
        log_tail: ["a", "b"],
      },
    });
  });

  it("hides the token when a bad line is logged", () => {
    expect(describeLine('{"v": 1, "token": "secret-value", "x": 1')).not.toContain("secret-value");
  });
});
