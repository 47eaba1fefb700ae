import { useEffect, useState } from "react";

import type { ControlApi } from "./controlApi";
import type { LlmKeyState } from "./protocol";

export interface KeyStatus {
  state: LlmKeyState;
  markStored: () => void;
}

/** How often, and how many times, to ask again while the keyring has not answered. */
const RETRY_MS = 1000;
const MAX_RETRIES = 15;

/**
 * Whether the backend has an LLM key: `GET /key/status` once the control API is known,
 * until then what the `ready` event said.
 */
export function useKeyStatus(api: ControlApi | null, announced: LlmKeyState | null): KeyStatus {
  const [checked, setChecked] = useState<{ api: ControlApi; state: LlmKeyState } | null>(null);
  useEffect(() => {
    if (!api) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = (retries: number) => {
      api
        .keyStatus()
        .then((status) => {
          if (!live) return;
          const state = status.state ?? (status.available ? "available" : "missing");
          setChecked({ api, state });
          if (state === "unknown" && retries > 0) timer = setTimeout(() => {
            ask(retries - 1);
          }, RETRY_MS);
        })
        .catch(() => undefined);
    };
    ask(MAX_RETRIES);
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [api]);
  const known = checked && checked.api === api && checked.state !== "unknown" ? checked.state : null;
  return {
    state: known ?? announced ?? "unknown",
    markStored: () => {
      if (api) setChecked({ api, state: "available" });
    },
  };
}
