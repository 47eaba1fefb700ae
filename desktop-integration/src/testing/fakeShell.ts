import type { Channel } from "@tauri-apps/api/core";
import { mockIPC } from "@tauri-apps/api/mocks";

import { APP_PID_COMMAND } from "../sidecar";

type ShellMessage =
  | { event: "Stdout" | "Stderr"; payload: string }
  | { event: "Terminated"; payload: { code: number | null; signal: number | null } }
  | { event: "Error"; payload: string };

export interface FakeProcess {
  pid: number;
  program: string;
  args: string[];
  options: Record<string, unknown>;
  stdin: unknown[];
  killed: boolean;
  channel: Channel<ShellMessage>;
  nextIndex: number;
}

interface TauriInternals {
  runCallback(id: number, data: unknown): void;
}

/**
 * The Rust side of `@tauri-apps/plugin-shell`, played through Tauri's official IPC mocks
 * (`mockIPC`): the real plugin JavaScript runs, and its `spawn`, `stdin_write` and `kill`
 * invokes land here. Messages reach the plugin's Channel the way Tauri delivers them
 * (indexed, through the callback registry), one stdout line per message without its "\n".
 */
export class FakeShell {
  readonly processes: FakeProcess[] = [];
  readonly invocations: { cmd: string; args: unknown }[] = [];
  appPid: unknown = 4242;
  spawnError: string | null = null;
  /** What `shutdown` on the control API would do: exit the process (set by tests). */
  exitOnKill = true;
  private nextPid = 7000;

  install(): this {
    mockIPC((cmd, args) => this.handle(cmd, args));
    return this;
  }

  get last(): FakeProcess {
    const proc = this.processes[this.processes.length - 1];
    if (!proc) throw new Error("nothing was spawned");
    return proc;
  }

  stdoutLines(proc: FakeProcess, lines: readonly string[]): void {
    for (const line of lines) this.send(proc, { event: "Stdout", payload: line });
  }

  stderr(proc: FakeProcess, line: string): void {
    this.send(proc, { event: "Stderr", payload: line });
  }

  exit(proc: FakeProcess, code: number | null, signal: number | null = null): void {
    this.send(proc, { event: "Terminated", payload: { code, signal } });
  }

  send(proc: FakeProcess, message: ShellMessage): void {
    const internals = (window as unknown as { __TAURI_INTERNALS__: TauriInternals }).__TAURI_INTERNALS__;
    internals.runCallback(proc.channel.id, { index: proc.nextIndex++, message });
  }

  private handle(cmd: string, args: unknown): unknown {
    this.invocations.push({ cmd, args });
    const a = args as Record<string, unknown>;
    switch (cmd) {
      case APP_PID_COMMAND:
        return this.appPid;
      case "plugin:shell|spawn": {
        if (this.spawnError !== null) throw new Error(this.spawnError);
        const proc: FakeProcess = {
          pid: this.nextPid++,
          program: a.program as string,
          args: [...(a.args as string[])],
          options: a.options as Record<string, unknown>,
          stdin: [],
          killed: false,
          channel: a.onEvent as Channel<ShellMessage>,
          nextIndex: 0,
        };
        this.processes.push(proc);
        return proc.pid;
      }
      case "plugin:shell|stdin_write": {
        this.processes.find((p) => p.pid === a.pid)?.stdin.push(a.buffer);
        return null;
      }
      case "plugin:shell|kill": {
        const proc = this.processes.find((p) => p.pid === a.pid);
        if (proc && !proc.killed) {
          proc.killed = true;
          if (this.exitOnKill) this.exit(proc, null, 9);
        }
        return null;
      }
      default:
        throw new Error(`unexpected invoke ${cmd}`);
    }
  }
}
