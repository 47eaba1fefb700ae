import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { SIDECAR_PROGRAM } from "./protocol";

const TAURI_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "tauri");
const read = (name: string): unknown => JSON.parse(readFileSync(join(TAURI_DIR, name), "utf8"));

interface Capability {
  identifier: string;
  permissions: (string | { identifier: string; allow: { name: string; sidecar: boolean; args: (string | { validator: string })[] }[] })[];
}

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

  it("allows spawning exactly the sidecar with exactly `up --parent-pid <pid>`, stdin and kill", () => {
    const capability = read("capabilities/voice-sidecar.json") as Capability;
    const names = capability.permissions.map((p) => (typeof p === "string" ? p : p.identifier));
    expect(names.sort()).toEqual(["shell:allow-kill", "shell:allow-spawn", "shell:allow-stdin-write"]);
    const spawn = capability.permissions.find((p) => typeof p !== "string");
    if (!spawn || typeof spawn === "string") throw new Error("no scoped spawn permission");
    expect(spawn.allow).toHaveLength(1);
    const [entry] = spawn.allow;
    expect(entry).toMatchObject({ name: SIDECAR_PROGRAM, sidecar: true });
    expect(entry!.args.slice(0, 2)).toEqual(["up", "--parent-pid"]);
    const last = entry!.args[2];
    if (typeof last !== "object") throw new Error("the pid must be validated");
    // the shell plugin anchors validators as ^…$ unless "raw" is set
    const pid = new RegExp(`^${last.validator}$`);
    for (const ok of ["1", "4242", "4294967295"]) expect(pid.test(ok), ok).toBe(true);
    for (const bad of ["0", "-1", "012", "1.5", "42 --dev", "42;rm", "", "12345678901"]) expect(pid.test(bad), bad).toBe(false);
  });

  it("lets the webview reach only loopback for the control API and LiveKit", () => {
    const conf = read("tauri.conf.fragment.json") as { app: { security: { csp: Record<string, string> } } };
    expect(conf.app.security.csp["connect-src"]).toContain("http://127.0.0.1:*");
    expect(conf.app.security.csp["connect-src"]).toContain("ws://127.0.0.1:*");
  });
});
