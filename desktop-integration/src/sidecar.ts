import { Channel, invoke } from "@tauri-apps/api/core";

import { ControlApi, type FetchLike } from "./controlApi";
import { LineSplitter } from "./lineSplitter";
import { describeLine, parseEventLine } from "./parseEvent";
import { DEFAULT_RESTART, decideRestart, type GiveUpReason, type RestartOptions } from "./restartPolicy";
import {
  INITIAL_SIDECAR_STATE,
  failureMessage,
  sidecarReducer,
  type FailureReason,
  type SidecarAction,
  type SidecarState,
} from "./sidecarState";

/** The app's Rust commands (desktop-integration/tauri/rust/voice.rs) that start the sidecar,
 * ask it to stop and kill it. The page names no program, argument or environment. */
export const SIDECAR_COMMANDS = {
  spawn: "voice_sidecar_spawn",
  requestStop: "voice_sidecar_request_stop",
  kill: "voice_sidecar_kill",
} as const;

/** What the Rust side sends on the spawn's channel: one stdout/stderr line without its
 * terminator per message, then how the process ended (the shell plugin's shape). */
export type SidecarOutput =
  | { event: "Stdout" | "Stderr"; payload: string }
  | { event: "Terminated"; payload: { code: number | null; signal: number | null } }
  | { event: "Error"; payload: string };

export interface SidecarLogger {
  warn(message: string): void;
  info(message: string): void;
}

export interface SidecarControllerOptions {
  restart?: RestartOptions;
  /** After a stop request, wait this long for the exit before killing. */
  stopTimeoutMs?: number;
  /** Give up when no event arrives for this long before `ready` (a download sends progress). */
  readyTimeoutMs?: number;
  /** For `POST /shutdown`; defaults to the global fetch. */
  fetch?: FetchLike;
  now?: () => number;
  logger?: SidecarLogger;
}

const GIVE_UP_MESSAGES: Record<FailureReason, string> = {
  crash_loop: "The voice backend kept crashing and was not restarted again.",
  config_invalid: "The voice backend's settings are invalid.",
  model_fetch_failed: "A speech model could not be downloaded.",
  already_running: "Another voice backend is already running.",
  bundle_missing: "The voice backend's files are missing or damaged; reinstall the app.",
  livekit_not_found: "The voice backend could not find livekit-server.",
  service_fatal: "A part of the voice backend failed for good.",
  spawn_failed: "The voice backend could not be started.",
  startup_timeout: "The voice backend did not become ready in time.",
};

/** What spawning rejects with when the bundled binary is not there: ENOENT
 * ("No such file or directory (os error 2)" on Linux and macOS; Windows' ERROR_FILE_NOT_FOUND
 * is also os error 2, "The system cannot find the file specified."). Seen in the example app. */
const MISSING_PROGRAM = /\(os error 2\)|no such file or directory|cannot find the file specified/i;

/**
 * Runs `voice-sidecar up` as a Tauri sidecar and follows its JSON-lines events.
 *
 * It restarts the sidecar with backoff when it dies on its own, gives up after a crash
 * loop or an exit code that a restart cannot fix, and stops it gracefully on request.
 */
export class SidecarController {
  private state: SidecarState = INITIAL_SIDECAR_STATE;
  private readonly listeners = new Set<() => void>();
  private child: { pid: number } | null = null;
  private generation = 0;
  private crashTimes: number[] = [];
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private readyTimer: ReturnType<typeof setTimeout> | null = null;
  private exitWaiters: (() => void)[] = [];
  private stopRequested = false;
  private readonly options: Required<Omit<SidecarControllerOptions, "fetch">> & { fetch?: FetchLike };

  constructor(options: SidecarControllerOptions = {}) {
    this.options = {
      restart: options.restart ?? DEFAULT_RESTART,
      stopTimeoutMs: options.stopTimeoutMs ?? 5_000,
      readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
      now: options.now ?? (() => Date.now()),
      logger: options.logger ?? console,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    };
  }

  getState = (): SidecarState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** Starts the sidecar unless it is already running or starting. */
  async start(): Promise<void> {
    const { phase } = this.state;
    if (phase !== "idle" && phase !== "stopped" && phase !== "failed") return;
    this.crashTimes = [];
    if (phase !== "idle") this.dispatch({ type: "reset" });
    await this.spawn();
  }

  /** After a failure: forget the crash history and try again. */
  async retry(): Promise<void> {
    if (this.state.phase === "restarting") this.cancelRestart();
    if (this.state.phase === "restarting" || this.state.phase === "failed") this.dispatch({ type: "reset" });
    await this.start();
  }

  /** The key form stored a key: the backend now has one. */
  markKeyStored(): void {
    this.dispatch({ type: "key_stored" });
  }

  /**
   * Stops the sidecar: the `{"command": "shutdown"}` line on its stdin (which works even
   * before the control API is known) and `POST /shutdown` when it is, then waits
   * `stopTimeoutMs` for the exit and kills the process if it is still there.
   */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.cancelRestart();
    this.clearReadyTimer();
    const child = this.child;
    const ready = this.state.ready;
    if (child === null) {
      this.generation++; // a spawn still in flight kills what it started
      if (this.state.phase !== "idle" && this.state.phase !== "failed") {
        this.dispatch({ type: "stop" });
        this.dispatch({ type: "exited", code: null, signal: null });
      }
      return;
    }
    this.dispatch({ type: "stop" });
    const exited = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, this.options.stopTimeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    invoke(SIDECAR_COMMANDS.requestStop).catch((error: unknown) => {
      this.options.logger.warn(`voice sidecar: writing the stop line failed (${String(error)})`);
    });
    if (ready !== null) {
      const api = new ControlApi({
        baseUrl: ready.controlUrl,
        token: ready.token,
        timeoutMs: this.options.stopTimeoutMs,
        ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      });
      api.shutdown().catch((error: unknown) => {
        this.options.logger.warn(`voice sidecar: POST /shutdown failed (${String(error)}); waiting, then killing`);
      });
    }
    if (await exited) return;
    this.options.logger.warn(`voice sidecar: no exit ${this.options.stopTimeoutMs} ms after the stop request; killing it`);
    try {
      await invoke(SIDECAR_COMMANDS.kill);
    } catch (error) {
      this.options.logger.warn(`voice sidecar: kill failed: ${String(error)}`);
    }
    if (this.child === child) this.handleExit(this.generation, null, null);
  }

  private dispatch(action: SidecarAction): void {
    const next = sidecarReducer(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener();
  }

  private async spawn(): Promise<void> {
    const generation = ++this.generation;
    this.stopRequested = false;
    this.dispatch({ type: "spawn" });
    const splitter = new LineSplitter((chars) => {
      this.options.logger.warn(`voice sidecar: dropped a ${chars}-character stdout line without a newline`);
    });
    const output = new Channel<SidecarOutput>();
    output.onmessage = (message) => {
      if (generation !== this.generation) return; // an abandoned process
      switch (message.event) {
        case "Stdout":
          // One line per message with its terminator removed; a payload that still ends in
          // "\n" just yields an empty line, skipped.
          for (const line of splitter.push(message.payload.endsWith("\n") ? message.payload : `${message.payload}\n`)) {
            this.handleLine(line);
          }
          return;
        case "Stderr":
          if (message.payload.trim() !== "") this.dispatch({ type: "stderr", line: message.payload.replace(/\r?\n$/, "") });
          return;
        case "Terminated":
          for (const line of splitter.end()) this.handleLine(line);
          this.handleExit(generation, message.payload.code, message.payload.signal);
          return;
        case "Error":
          this.options.logger.warn(`voice sidecar: ${message.payload}`);
      }
    };
    try {
      const pid = await invoke<number>(SIDECAR_COMMANDS.spawn, { onOutput: output });
      if (generation !== this.generation) {
        await invoke(SIDECAR_COMMANDS.kill);
        return;
      }
      this.child = { pid };
      this.dispatch({ type: "spawned", pid });
      this.armReadyTimer();
    } catch (error) {
      const reason = String(error);
      this.fail(
        "spawn_failed",
        MISSING_PROGRAM.test(reason)
          ? `The voice backend's program is missing (${reason}); reinstall the app.`
          : `The voice backend could not be started: ${reason}`,
      );
    }
  }

  private handleLine(line: string): void {
    const result = parseEventLine(line);
    if (!result.ok) {
      this.options.logger.warn(`voice sidecar: ignored a stdout line (${result.reason}): ${describeLine(line)}`);
      return;
    }
    this.dispatch({ type: "event", event: result.event });
    if (result.event.event === "ready") this.clearReadyTimer();
    else if (this.state.phase === "starting") this.armReadyTimer();
  }

  private handleExit(generation: number, code: number | null, signal: number | null): void {
    if (generation !== this.generation) return;
    this.child = null;
    this.clearReadyTimer();
    const requested = this.stopRequested;
    this.dispatch({ type: "exited", code, signal });
    for (const waiter of this.exitWaiters.splice(0)) waiter();
    if (requested || this.state.phase === "failed") return;
    const now = this.options.now();
    const decision = decideRestart(code, this.crashTimes, now, this.options.restart);
    this.crashTimes.push(now);
    if (decision.action === "give_up") {
      this.fail(decision.reason, failureMessage(this.state, GIVE_UP_MESSAGES[decision.reason]));
      return;
    }
    this.options.logger.warn(
      `voice sidecar exited (code ${String(code)}, signal ${String(signal)}); restart ${decision.attempt} in ${decision.delayMs} ms`,
    );
    this.dispatch({ type: "restart_scheduled", delayMs: decision.delayMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.spawn();
    }, decision.delayMs);
  }

  private fail(reason: FailureReason | GiveUpReason, message: string): void {
    this.clearReadyTimer();
    this.options.logger.warn(`voice sidecar: giving up (${reason}): ${message}`);
    this.dispatch({ type: "failed", reason, message });
  }

  private armReadyTimer(): void {
    this.clearReadyTimer();
    const generation = this.generation;
    this.readyTimer = setTimeout(() => {
      this.readyTimer = null;
      if (generation !== this.generation || this.state.phase !== "starting") return;
      const child = this.child;
      this.generation++; // ignore whatever the abandoned process still says
      this.child = null;
      this.fail(
        "startup_timeout",
        `The voice backend sent nothing for ${Math.round(this.options.readyTimeoutMs / 1000)} s while starting.`,
      );
      if (child !== null) {
        invoke(SIDECAR_COMMANDS.kill).catch(() => undefined);
      }
    }, this.options.readyTimeoutMs);
  }

  private clearReadyTimer(): void {
    if (this.readyTimer !== null) clearTimeout(this.readyTimer);
    this.readyTimer = null;
  }

  private cancelRestart(): void {
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }
}
