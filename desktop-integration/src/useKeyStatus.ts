import { useEffect, useState } from "react";

import type { ControlApi } from "./controlApi";
import type { LlmKeyState } from "./protocol";

export interface KeyStatus {
  state: LlmKeyState | "unknown";
  markStored: () => void;
}

/**
 * Whether the backend has an LLM key: `GET /key/status` once the control API is known,
 * until then what the `ready` event said.
 */
export function useKeyStatus(api: ControlApi | null, announced: LlmKeyState | null): KeyStatus {
  const [checked, setChecked] = useState<{ api: ControlApi; available: boolean } | null>(null);
  useEffect(() => {
    if (!api) return;
    let live = true;
    api
      .keyStatus()
      .then((status) => {
        if (live) setChecked({ api, available: status.available });
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [api]);
  const known = checked && checked.api === api ? (checked.available ? "available" : "missing") : null;
  return {
    state: known ?? announced ?? "unknown",
    markStored: () => {
      if (api) setChecked({ api, available: true });
    },
  };
}
