import type { Channel } from "@tauri-apps/api/core";
import { mockIPC } from "@tauri-apps/api/mocks";

import { SIDECAR_COMMANDS, type SidecarOutput } from "../sidecar";

export interface FakeProcess {
  pid: number;
  /** Lines written to its stdin: the Rust side writes only the shutdown line. */
  stdin: string[];
  killed: boolean;
  exited: boolean;
  channel: Channel<SidecarOutput>;
  nextIndex: number;
}

interface TauriInternals {
  runCallback(id: number, data: unknown): void;
}

/**
 * The app's Rust commands in desktop-integration/tauri/rust/voice.rs, played through Tauri's
 * official IPC mocks (`mockIPC`): `voice_sidecar_spawn` takes nothing but the output channel
 * and refuses while its sidecar runs, `voice_sidecar_request_stop` writes the shutdown line,
 * `voice_sidecar_kill` kills. Messages reach the page's Channel the way Tauri delivers them
 * (indexed, through the callback registry), one stdout line per message without its "\n".
 */
export class FakeSidecarHost {
  readonly processes: FakeProcess[] = [];
  readonly invocations: { cmd: string; args: unknown }[] = [];
  spawnError: string | null = null;
  /** Whether a kill ends the process (a Terminated message with signal 9). */
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

  get running(): FakeProcess | undefined {
    return this.processes.find((p) => !p.exited && !p.killed);
  }

  stdoutLines(proc: FakeProcess, lines: readonly string[]): void {
    for (const line of lines) this.send(proc, { event: "Stdout", payload: line });
  }

  stderr(proc: FakeProcess, line: string): void {
    this.send(proc, { event: "Stderr", payload: line });
  }

  exit(proc: FakeProcess, code: number | null, signal: number | null = null): void {
    proc.exited = true;
    this.send(proc, { event: "Terminated", payload: { code, signal } });
  }

  send(proc: FakeProcess, message: SidecarOutput): void {
    const internals = (window as unknown as { __TAURI_INTERNALS__: TauriInternals }).__TAURI_INTERNALS__;
    internals.runCallback(proc.channel.id, { index: proc.nextIndex++, message });
  }

  private handle(cmd: string, args: unknown): unknown {
    this.invocations.push({ cmd, args });
    const a = args as Record<string, unknown>;
    switch (cmd) {
      case SIDECAR_COMMANDS.spawn: {
        if (this.spawnError !== null) throw new Error(this.spawnError);
        const running = this.running;
        if (running) throw new Error(`the voice backend is already running (pid ${running.pid})`);
        const proc: FakeProcess = {
          pid: this.nextPid++,
          stdin: [],
          killed: false,
          exited: false,
          channel: a.onOutput as Channel<SidecarOutput>,
          nextIndex: 0,
        };
        this.processes.push(proc);
        return proc.pid;
      }
      case SIDECAR_COMMANDS.requestStop: {
        this.running?.stdin.push('{"command": "shutdown"}\n');
        return null;
      }
      case SIDECAR_COMMANDS.kill: {
        const proc = this.running;
        if (proc) {
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
