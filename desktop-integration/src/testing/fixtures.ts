import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures");

export const FIXTURE_NAMES = readdirSync(FIXTURES_DIR)
  .filter((name) => name.endsWith(".jsonl"))
  .map((name) => name.replace(/\.jsonl$/, ""))
  .sort();

/** The exit code `voice-sidecar up` gives after each fixture's stream (protocol "Exit codes"). */
export const FIXTURE_EXIT_CODES: Record<string, number | null> = {
  "normal-start": null, // still running
  "first-run-download": null,
  "missing-key": null,
  "port-busy": 6,
  "livekit-not-found": 5,
  "config-invalid": 2,
  "crash-loop": 7,
  "shutdown-request": 0,
  "model-download-failed": 4,
  "already-running": 8,
};

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES_DIR, `${name}.jsonl`), "utf8");
}

export function fixtureLines(name: string): string[] {
  return fixtureText(name)
    .split("\n")
    .filter((line) => line.trim() !== "");
}
