import { decideRestart, type RestartOptions } from "./restartPolicy";

const opts: RestartOptions = { initialDelayMs: 100, factor: 2, maxDelayMs: 500, maxCrashes: 4, windowMs: 10_000 };

describe("decideRestart", () => {
  it.each([
    [2, "config_invalid"],
    [4, "model_fetch_failed"],
    [5, "livekit_not_found"],
    [7, "service_fatal"],
    [8, "already_running"],
    [9, "bundle_missing"],
  ] as const)("gives up at once on exit code %i (%s)", (code, reason) => {
    expect(decideRestart(code, [], 0, opts)).toEqual({ action: "give_up", reason });
  });

  it.each([
    // exit code, earlier crashes, now, expected
    [1, [], 1_000, { action: "restart", delayMs: 100, attempt: 1 }],
    [null, [500], 1_000, { action: "restart", delayMs: 200, attempt: 2 }],
    [6, [100, 500], 1_000, { action: "restart", delayMs: 400, attempt: 3 }],
    [0, [100, 200, 300], 1_000, { action: "give_up", reason: "crash_loop" }],
    // crashes older than the window are forgotten
    [1, [0, 1, 2], 20_000, { action: "restart", delayMs: 100, attempt: 1 }],
  ] as const)("exit %s after %j at %i ms: %j", (code, crashes, now, expected) => {
    expect(decideRestart(code, crashes, now, opts)).toEqual(expected);
  });

  it("caps the delay", () => {
    const wide = { ...opts, maxCrashes: 100 };
    expect(decideRestart(1, Array.from({ length: 10 }, (_, i) => i), 20, wide)).toMatchObject({ delayMs: 500 });
  });
});
