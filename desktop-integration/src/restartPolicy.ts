import { EXIT_CODES } from "./protocol";

/** Retry and give-up settings of the sidecar supervisor in the app: one place, tiny in tests. */
export interface RestartOptions {
  /** Delay before the first restart. */
  initialDelayMs: number;
  /** Each further restart waits this many times longer. */
  factor: number;
  maxDelayMs: number;
  /** This many unrequested exits within `windowMs` are a crash loop: give up. */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_RESTART: RestartOptions = {
  initialDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 30_000,
  maxCrashes: 5,
  windowMs: 120_000,
};

export type GiveUpReason =
  | "crash_loop"
  | "config_invalid"
  | "model_fetch_failed"
  | "livekit_not_found"
  | "service_fatal"
  | "already_running"
  | "bundle_missing";

export type RestartDecision =
  | { action: "restart"; delayMs: number; attempt: number }
  | { action: "give_up"; reason: GiveUpReason };

/** Exit codes that another start cannot fix (docs/sidecar-protocol.md, "Exit codes"). */
const PERMANENT: ReadonlyMap<number, GiveUpReason> = new Map([
  [EXIT_CODES.configInvalid, "config_invalid"],
  [EXIT_CODES.modelFetchFailed, "model_fetch_failed"],
  [EXIT_CODES.livekitNotFound, "livekit_not_found"],
  [EXIT_CODES.serviceFatal, "service_fatal"],
  [EXIT_CODES.alreadyRunning, "already_running"],
  [EXIT_CODES.bundleMissing, "bundle_missing"],
]);

/**
 * What to do after the sidecar exited without being asked to.
 *
 * @param exitCode the process exit code, or null when it died by a signal
 * @param crashTimes when the earlier unrequested exits happened (ms), this one excluded
 * @param now when this exit happened (ms)
 */
export function decideRestart(
  exitCode: number | null,
  crashTimes: readonly number[],
  now: number,
  options: RestartOptions = DEFAULT_RESTART,
): RestartDecision {
  const permanent = exitCode === null ? undefined : PERMANENT.get(exitCode);
  if (permanent !== undefined) return { action: "give_up", reason: permanent };
  const recent = crashTimes.filter((t) => now - t < options.windowMs).length + 1;
  if (recent >= options.maxCrashes) return { action: "give_up", reason: "crash_loop" };
  const delayMs = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (recent - 1));
  return { action: "restart", delayMs, attempt: recent };
}
