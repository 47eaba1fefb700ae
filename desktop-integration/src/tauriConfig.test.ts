import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { SIDECAR_PROGRAM } from "./protocol";
import { SIDECAR_COMMANDS } from "./sidecar";

const TAURI_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "tauri");
const read = (name: string): unknown => JSON.parse(readFileSync(join(TAURI_DIR, name), "utf8"));

describe("the Tauri configuration pieces", () => {
  it("bundles both binaries as sidecars", () => {
    const conf = read("tauri.conf.fragment.json") as { bundle: { externalBin: string[] } };
    expect(conf.bundle.externalBin).toEqual([SIDECAR_PROGRAM, "binaries/livekit-server"]);
  });

  it("ships the one-dir bundle as a resource under the name the launcher looks for", () => {
    // installers/build.py writes resources/voice-sidecar-bundle/; the launcher
    // (installers/launcher) finds it beside itself or in the platform's resource folder
    const conf = read("tauri.conf.fragment.json") as { bundle: { resources: Record<string, string> } };
    expect(conf.bundle.resources).toEqual({ "resources/voice-sidecar-bundle/": "voice-sidecar-bundle/" });
  });

  it("ships no capability: the page is granted nothing of the shell", () => {
    expect(existsSync(join(TAURI_DIR, "capabilities"))).toBe(false);
  });

  it("names the Rust commands voice.rs defines, and the spawn takes nothing but the channel", () => {
    const rust = readFileSync(join(TAURI_DIR, "rust", "voice.rs"), "utf8");
    const commands = [...rust.matchAll(/#\[tauri::command\]\s*pub fn (\w+)\(([^)]*)\)/g)];
    const byName = new Map(commands.map(([, name, params]) => [name!, params!]));
    for (const name of Object.values(SIDECAR_COMMANDS)) expect(byName.has(name), name).toBe(true);
    const params = [...byName.get(SIDECAR_COMMANDS.spawn)!.matchAll(/(\w+):/g)].map(([, name]) => name);
    // Tauri maps the page's camelCase `onOutput` to `on_output`; app and state are injected
    expect(params).toEqual(["app", "sidecar", "on_output"]);
    expect(rust).toContain('args(["up", "--parent-pid", parent_pid.as_str()])');
  });

  it("lets the webview reach only loopback for the control API and LiveKit", () => {
    const conf = read("tauri.conf.fragment.json") as { app: { security: { csp: Record<string, string> } } };
    expect(conf.app.security.csp["connect-src"]).toContain("http://127.0.0.1:*");
    expect(conf.app.security.csp["connect-src"]).toContain("ws://127.0.0.1:*");
  });
});
