import { SIDECAR_COMMANDS, SidecarController, type SidecarLogger } from "./sidecar";
import { FIXTURE_EXIT_CODES, fixtureLines } from "./testing/fixtures";
import { FakeSidecarHost } from "./testing/fakeSidecarHost";

const RESTART = { initialDelayMs: 100, factor: 2, maxDelayMs: 1_000, maxCrashes: 3, windowMs: 60_000 };

function setup(options: { fetch?: typeof fetch; readyTimeoutMs?: number } = {}) {
  const shell = new FakeSidecarHost().install();
  const logger: SidecarLogger & { warnings: string[] } = {
    warnings: [],
    warn(message: string) {
      this.warnings.push(message);
    },
    info() {
      /* quiet */
    },
  };
  const controller = new SidecarController({
    restart: RESTART,
    stopTimeoutMs: 5_000,
    readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
    logger,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return { shell, controller, logger };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("SidecarController through Tauri's IPC mocks", () => {
  it("starts the sidecar through the app's command, naming no program, argument or environment", async () => {
    const { shell, controller } = setup();
    await controller.start();
    expect(shell.processes).toHaveLength(1);
    const spawns = shell.invocations.filter((i) => i.cmd === SIDECAR_COMMANDS.spawn);
    expect(spawns).toHaveLength(1);
    expect(Object.keys(spawns[0]!.args as object)).toEqual(["onOutput"]);
    expect(controller.getState()).toMatchObject({ phase: "starting", pid: shell.last.pid });
  });

  it("follows a normal start to ready, one stdout line per message as the plugin sends them", async () => {
    const { shell, controller } = setup();
    const phases: string[] = [];
    controller.subscribe(() => phases.push(controller.getState().phase));
    await controller.start();
    shell.stdoutLines(shell.last, fixtureLines("normal-start"));
    expect(controller.getState()).toMatchObject({
      phase: "ready",
      ready: { controlUrl: "http://127.0.0.1:53211", token: "fixture-token-normal-start" },
    });
    expect(new Set(phases)).toEqual(new Set(["spawning", "starting", "ready"]));
  });

  it("ignores garbage lines with a warning, and copes with CR left at line ends", async () => {
    const { shell, controller, logger } = setup();
    await controller.start();
    const lines = fixtureLines("missing-key");
    shell.stdoutLines(shell.last, ["Loading models...", ...lines.slice(0, 3), "{broken", ""]);
    shell.stdoutLines(
      shell.last,
      lines.slice(3).map((l) => `${l}\r`),
    );
    expect(controller.getState()).toMatchObject({ phase: "ready", llmKey: "missing" });
    expect(logger.warnings.filter((w) => w.includes("ignored a stdout line"))).toHaveLength(2);
  });

  it("keeps stderr lines for diagnostics", async () => {
    const { shell, controller } = setup();
    await controller.start();
    shell.stderr(shell.last, "WARNING something\n");
    expect(controller.getState().stderrTail).toEqual(["WARNING something"]);
  });

  it("restarts after a crash with backoff, then gives up after a crash loop", async () => {
    const { shell, controller } = setup();
    await controller.start();
    shell.stdoutLines(shell.last, fixtureLines("normal-start"));
    shell.exit(shell.last, null, 9);
    expect(controller.getState()).toMatchObject({ phase: "restarting", restarts: 1, nextRestartInMs: 100, ready: null });
    await vi.advanceTimersByTimeAsync(99);
    expect(shell.processes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(shell.processes).toHaveLength(2);
    shell.stdoutLines(shell.last, fixtureLines("normal-start"));
    expect(controller.getState().phase).toBe("ready");

    shell.exit(shell.last, 1);
    expect(controller.getState()).toMatchObject({ phase: "restarting", nextRestartInMs: 200 });
    await vi.advanceTimersByTimeAsync(200);
    expect(shell.processes).toHaveLength(3);
    shell.exit(shell.last, 1);
    expect(controller.getState()).toMatchObject({
      phase: "failed",
      failure: { reason: "crash_loop", message: "The voice backend kept crashing and was not restarted again." },
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(shell.processes).toHaveLength(3);
  });

  it.each(["livekit-not-found", "config-invalid", "crash-loop", "model-download-failed", "already-running"])(
    "does not restart after %s, and says why in the sidecar's words",
    async (name) => {
      const { shell, controller } = setup();
      await controller.start();
      const lines = fixtureLines(name);
      shell.stdoutLines(shell.last, lines);
      shell.exit(shell.last, FIXTURE_EXIT_CODES[name] ?? null);
      const error = lines.map((l) => JSON.parse(l) as { event: string; message?: string }).find((e) => e.event === "error");
      expect(controller.getState()).toMatchObject({ phase: "failed", failure: { message: error?.message } });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(shell.processes).toHaveLength(1);
    },
  );

  it("restarts after port-busy (the port may come free) and fails with the port message", async () => {
    const { shell, controller } = setup();
    await controller.start();
    for (let i = 0; i < 3; i++) {
      shell.stdoutLines(shell.last, fixtureLines("port-busy"));
      shell.exit(shell.last, 6);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(shell.processes).toHaveLength(3);
    expect(controller.getState()).toMatchObject({
      phase: "failed",
      failure: { reason: "crash_loop", code: "port_busy", message: expect.stringContaining("Port 7880") as unknown },
    });
  });

  it("stops gracefully: POST /shutdown with the bearer token, no kill when it exits in time", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetchMock = vi.fn((url: string, init: RequestInit) => {
      calls.push({ url, init });
      return Promise.resolve(new Response(null, { status: 202 }));
    });
    const { shell, controller } = setup({ fetch: fetchMock as unknown as typeof fetch });
    await controller.start();
    shell.stdoutLines(shell.last, fixtureLines("shutdown-request").slice(0, 6));
    const stopping = controller.stop();
    expect(controller.getState().phase).toBe("stopping");
    await vi.advanceTimersByTimeAsync(50);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe("http://127.0.0.1:54100/shutdown");
    expect(calls[0]!.init.method).toBe("POST");
    expect(new Headers(calls[0]!.init.headers).get("Authorization")).toBe("Bearer fixture-token-shutdown");
    shell.stdoutLines(shell.last, fixtureLines("shutdown-request").slice(6));
    shell.exit(shell.last, 0);
    await stopping;
    expect(controller.getState()).toMatchObject({ phase: "stopped", stopReason: "shutdown_request" });
    expect(shell.last.stdin).toEqual(['{"command": "shutdown"}\n']);
    expect(shell.invocations.map((i) => i.cmd)).not.toContain(SIDECAR_COMMANDS.kill);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(shell.processes).toHaveLength(1);
  });

  it("kills the sidecar when it has not exited 5 s after the stop request", async () => {
    const fetchMock = vi.fn(() => Promise.reject(new TypeError("connection refused")));
    const { shell, controller, logger } = setup({ fetch: fetchMock as unknown as typeof fetch });
    await controller.start();
    shell.stdoutLines(shell.last, fixtureLines("normal-start"));
    const stopping = controller.stop();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(shell.last.killed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(shell.last.killed).toBe(true);
    expect(controller.getState().phase).toBe("stopped");
    expect(logger.warnings.some((w) => w.includes("killing"))).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(shell.processes).toHaveLength(1);
  });

  it("kills a sidecar that is still starting (no control API yet) after the grace period", async () => {
    const { shell, controller } = setup();
    await controller.start();
    shell.stdoutLines(shell.last, fixtureLines("first-run-download").slice(0, 3));
    const stopping = controller.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    await stopping;
    expect(shell.last.killed).toBe(true);
    expect(controller.getState().phase).toBe("stopped");
  });

  it("fails with spawn_failed when Tauri refuses the spawn (binary missing, not permitted)", async () => {
    const { shell, controller } = setup();
    shell.spawnError = "program not allowed on the configured shell scope: binaries/voice-sidecar";
    await controller.start();
    expect(controller.getState()).toMatchObject({
      phase: "failed",
      failure: { reason: "spawn_failed", message: expect.stringContaining("not allowed") as unknown },
    });
  });

  it.each([
    "No such file or directory (os error 2)", // what the example app's spawn answers on Linux
    "The system cannot find the file specified. (os error 2)",
  ])("says to reinstall when the bundled binary is missing: %s", async (error) => {
    const { shell, controller } = setup();
    shell.spawnError = error;
    await controller.start();
    expect(controller.getState()).toMatchObject({
      phase: "failed",
      failure: { reason: "spawn_failed", message: expect.stringContaining("reinstall the app") as unknown },
    });
  });

  it("gives up when the sidecar falls silent while starting, and kills it", async () => {
    const { shell, controller } = setup({ readyTimeoutMs: 1_000 });
    await controller.start();
    await vi.advanceTimersByTimeAsync(800);
    shell.stdoutLines(shell.last, fixtureLines("first-run-download").slice(0, 2)); // progress resets the clock
    await vi.advanceTimersByTimeAsync(800);
    expect(controller.getState().phase).toBe("starting");
    await vi.advanceTimersByTimeAsync(200);
    expect(controller.getState()).toMatchObject({ phase: "failed", failure: { reason: "startup_timeout" } });
    expect(shell.last.killed).toBe(true);
  });

  it("starts once however often start() is called, and retry() starts afresh after a failure", async () => {
    const { shell, controller } = setup();
    await Promise.all([controller.start(), controller.start()]);
    expect(shell.processes).toHaveLength(1);
    shell.stdoutLines(shell.last, fixtureLines("config-invalid"));
    shell.exit(shell.last, 2);
    expect(controller.getState().phase).toBe("failed");
    await controller.retry();
    expect(shell.processes).toHaveLength(2);
    expect(controller.getState()).toMatchObject({ phase: "starting", failure: null, problems: [] });
  });
});
