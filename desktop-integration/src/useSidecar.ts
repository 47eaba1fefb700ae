import { useEffect, useSyncExternalStore } from "react";

import type { SidecarController } from "./sidecar";
import type { SidecarState } from "./sidecarState";

export interface UseSidecarOptions {
  /** Start the sidecar when the component mounts (idempotent). Default true. */
  autoStart?: boolean;
}

export interface UseSidecar {
  state: SidecarState;
  start: () => Promise<void>;
  stop: () => Promise<void>;
  retry: () => Promise<void>;
  markKeyStored: () => void;
}

/**
 * Follows a SidecarController. Create the controller once, outside React (module scope
 * or the app's root), so re-renders and StrictMode's double mount never start a second
 * process; unmounting does not stop it: stop it on app exit (see `stopSidecarOnExit`).
 */
export function useSidecar(controller: SidecarController, options: UseSidecarOptions = {}): UseSidecar {
  const state = useSyncExternalStore(controller.subscribe, controller.getState, controller.getState);
  const autoStart = options.autoStart ?? true;
  useEffect(() => {
    if (autoStart) void controller.start();
  }, [controller, autoStart]);
  return {
    state,
    start: () => controller.start(),
    stop: () => controller.stop(),
    retry: () => controller.retry(),
    markKeyStored: () => {
      controller.markKeyStored();
    },
  };
}
