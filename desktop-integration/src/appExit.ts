import { getCurrentWindow } from "@tauri-apps/api/window";

import type { SidecarController } from "./sidecar";

/**
 * Stops the sidecar gracefully when the main window closes, then closes it.
 *
 * Without this the shell plugin kills the sidecar at app exit (Unix: SIGKILL of the direct
 * child), which leaves the sidecar no chance to stop livekit-server and the agent itself.
 * Needs the `core:window:allow-destroy` permission. Returns the unlisten function.
 */
export async function stopSidecarOnExit(controller: SidecarController): Promise<() => void> {
  const window = getCurrentWindow();
  return window.onCloseRequested(async (event) => {
    event.preventDefault();
    try {
      await controller.stop();
    } finally {
      await window.destroy();
    }
  });
}
