import {
  LLM_KEY_STATES,
  PROTOCOL_VERSION,
  SERVICE_STATES,
  STOP_REASONS,
  type ErrorEvent,
  type ModelProgressEvent,
  type ReadyEvent,
  type ServiceEvent,
  type SidecarEvent,
  type StartingEvent,
  type StoppedEvent,
} from "./protocol";

export type ParseResult = { ok: true; event: SidecarEvent } | { ok: false; reason: string };

type Json = Record<string, unknown>;

class Invalid extends Error {}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(o: Json, key: string): string {
  const value = o[key];
  if (typeof value !== "string") throw new Invalid(`"${key}" must be a string`);
  return value;
}

function num(o: Json, key: string): number {
  const value = o[key];
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Invalid(`"${key}" must be a number`);
  return value;
}

function int(o: Json, key: string): number {
  const value = num(o, key);
  if (!Number.isInteger(value)) throw new Invalid(`"${key}" must be an integer`);
  return value;
}

function bool(o: Json, key: string): boolean {
  const value = o[key];
  if (typeof value !== "boolean") throw new Invalid(`"${key}" must be a boolean`);
  return value;
}

function strings(o: Json, key: string): string[] {
  const value = o[key];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new Invalid(`"${key}" must be a list of strings`);
  }
  return value;
}

function orNull<T>(o: Json, key: string, read: (o: Json, key: string) => T): T | null {
  return o[key] === null ? null : read(o, key);
}

function oneOf<T extends string>(o: Json, key: string, allowed: readonly T[]): T {
  const value = str(o, key);
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Invalid(`"${key}" is "${value}", not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

function loopbackUrl(o: Json, key: string, schemes: readonly string[]): string {
  const value = str(o, key);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Invalid(`"${key}" is not a URL`);
  }
  if (!schemes.includes(url.protocol) || url.hostname !== "127.0.0.1") {
    throw new Invalid(`"${key}" must be ${schemes.join(" or ")}//127.0.0.1:<port>`);
  }
  return value;
}

function build(o: Json): SidecarEvent {
  const base = { v: PROTOCOL_VERSION, time: num(o, "time") } as const;
  const name = str(o, "event");
  switch (name) {
    case "starting":
      return {
        ...base,
        event: "starting",
        version: str(o, "version"),
        pid: int(o, "pid"),
        log_file: str(o, "log_file"),
      } satisfies StartingEvent;
    case "service":
      return {
        ...base,
        event: "service",
        service: str(o, "service"),
        state: oneOf(o, "state", SERVICE_STATES),
        restarts: int(o, "restarts"),
        pid: orNull(o, "pid", int),
        message: orNull(o, "message", str),
      } satisfies ServiceEvent;
    case "model_progress":
      return {
        ...base,
        event: "model_progress",
        model: str(o, "model"),
        kind: str(o, "kind"),
        phase: str(o, "phase"),
        file: orNull(o, "file", str),
        bytes: num(o, "bytes"),
        total: orNull(o, "total", int),
        rate_bps: orNull(o, "rate_bps", num),
        eta_s: orNull(o, "eta_s", num),
        done: bool(o, "done"),
        message: orNull(o, "message", str),
      } satisfies ModelProgressEvent;
    case "ready":
      return {
        ...base,
        event: "ready",
        control_url: loopbackUrl(o, "control_url", ["http:"]),
        token: str(o, "token"),
        livekit_url: loopbackUrl(o, "livekit_url", ["ws:", "wss:"]),
        log_file: str(o, "log_file"),
        llm_key: oneOf(o, "llm_key", LLM_KEY_STATES),
      } satisfies ReadyEvent;
    case "error":
      return {
        ...base,
        event: "error",
        code: str(o, "code"),
        message: str(o, "message"),
        fatal: bool(o, "fatal"),
        ...("service" in o ? { service: str(o, "service") } : {}),
        ...("exit_code" in o ? { exit_code: orNull(o, "exit_code", int) } : {}),
        ...("signal" in o ? { signal: orNull(o, "signal", str) } : {}),
        ...("log_tail" in o ? { log_tail: strings(o, "log_tail") } : {}),
      } satisfies ErrorEvent;
    case "stopped":
      return { ...base, event: "stopped", reason: oneOf(o, "reason", STOP_REASONS) } satisfies StoppedEvent;
    default:
      throw new Invalid(`unknown event "${name}"`);
  }
}

/**
 * Parses one stdout line into a typed event. Anything else (not JSON, another protocol
 * version, an unknown event, a missing or mistyped field) is reported, never thrown.
 * Fields beyond the documented ones are ignored.
 */
export function parseEventLine(line: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (!isObject(value)) return { ok: false, reason: "not a JSON object" };
  if (value.v !== PROTOCOL_VERSION) {
    return { ok: false, reason: `protocol version ${JSON.stringify(value.v)} is not ${PROTOCOL_VERSION}` };
  }
  try {
    return { ok: true, event: build(value) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message };
    throw error;
  }
}

/** Shortens a line for a log message, and hides anything that looks like the token field. */
export function describeLine(line: string): string {
  const redacted = line.replace(/("token"\s*:\s*")[^"]*"/g, '$1…"');
  return redacted.length > 200 ? `${redacted.slice(0, 200)}…` : redacted;
}
