import { invoke } from "@tauri-apps/api/core";
import { Command, type Child } from "@tauri-apps/plugin-shell";

import { ControlApi, type FetchLike } from "./controlApi";
import { LineSplitter } from "./lineSplitter";
import { describeLine, parseEventLine } from "./parseEvent";
import { SIDECAR_PROGRAM } from "./protocol";
import { DEFAULT_RESTART, decideRestart, type GiveUpReason, type RestartOptions } from "./restartPolicy";
import {
  INITIAL_SIDECAR_STATE,
  failureMessage,
  sidecarReducer,
  type FailureReason,
  type SidecarAction,
  type SidecarState,
} from "./sidecarState";

/** The Tauri command the app registers to tell the frontend its own process id. */
export const APP_PID_COMMAND = "voice_app_pid";

export interface SidecarLogger {
  warn(message: string): void;
  info(message: string): void;
}

export interface SidecarControllerOptions {
  /** The app's pid, passed as `--parent-pid`; defaults to `invoke("voice_app_pid")`. */
  getParentPid?: () => Promise<number>;
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

/** What the shell plugin's spawn rejects with when the bundled binary is not there: ENOENT
 * ("No such file or directory (os error 2)" on Linux and macOS; Windows' ERROR_FILE_NOT_FOUND
 * is also os error 2, "The system cannot find the file specified."). Seen in the example app. */
const MISSING_PROGRAM = /\(os error 2\)|no such file or directory|cannot find the file specified/i;

/** Largest pid any supported OS hands out (u32); `--parent-pid` is validated against it. */
const MAX_PID = 4_294_967_295;

export function isValidPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 0 && pid <= MAX_PID;
}

/**
 * Runs `voice-sidecar up` as a Tauri sidecar and follows its JSON-lines events.
 *
 * It restarts the sidecar with backoff when it dies on its own, gives up after a crash
 * loop or an exit code that a restart cannot fix, and stops it gracefully on request.
 */
export class SidecarController {
  private state: SidecarState = INITIAL_SIDECAR_STATE;
  private readonly listeners = new Set<() => void>();
  private child: Child | null = null;
  private generation = 0;
  private crashTimes: number[] = [];
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private readyTimer: ReturnType<typeof setTimeout> | null = null;
  private exitWaiters: (() => void)[] = [];
  private stopRequested = false;
  private readonly options: Required<Omit<SidecarControllerOptions, "fetch">> & { fetch?: FetchLike };

  constructor(options: SidecarControllerOptions = {}) {
    this.options = {
      getParentPid: options.getParentPid ?? (() => invoke<number>(APP_PID_COMMAND)),
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
    child.write('{"command": "shutdown"}\n').catch((error: unknown) => {
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
      await child.kill();
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
    let pid: number;
    try {
      pid = await this.options.getParentPid();
    } catch (error) {
      this.fail("spawn_failed", `The app could not tell the voice backend its process id: ${String(error)}`);
      return;
    }
    if (generation !== this.generation) return;
    if (!isValidPid(pid)) {
      this.fail("spawn_failed", `The app's process id ${String(pid)} is not a valid pid.`);
      return;
    }
    const command = Command.sidecar(SIDECAR_PROGRAM, ["up", "--parent-pid", String(pid)]);
    const splitter = new LineSplitter((chars) => {
      this.options.logger.warn(`voice sidecar: dropped a ${chars}-character stdout line without a newline`);
    });
    command.stdout.on("data", (chunk: string) => {
      if (generation !== this.generation) return;
      // The shell plugin sends one line per event with its terminator removed; a payload
      // that still ends in "\n" (another plugin version) just yields an empty line, skipped.
      for (const line of splitter.push(chunk.endsWith("\n") ? chunk : `${chunk}\n`)) this.handleLine(line);
    });
    command.stderr.on("data", (line: string) => {
      if (generation !== this.generation || line.trim() === "") return;
      this.dispatch({ type: "stderr", line: line.replace(/\r?\n$/, "") });
    });
    command.on("close", ({ code, signal }: { code: number | null; signal: number | null }) => {
      for (const line of splitter.end()) this.handleLine(line);
      this.handleExit(generation, code, signal);
    });
    command.on("error", (message: string) => {
      this.options.logger.warn(`voice sidecar: ${message}`);
    });
    try {
      const child = await command.spawn();
      if (generation !== this.generation) {
        await child.kill();
        return;
      }
      this.child = child;
      this.dispatch({ type: "spawned", pid: child.pid });
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
        child.kill().catch(() => undefined);
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
