import { parseEventLine } from "../parseEvent";
import { INITIAL_SIDECAR_STATE, sidecarReducer, type SidecarAction, type SidecarState } from "../sidecarState";
import { fixtureLines } from "./fixtures";

/** The state the controller reaches after spawning and reading a fixture's events. */
export function stateAfter(fixture: string, extra: SidecarAction[] = [], lineCount?: number): SidecarState {
  const lines = fixtureLines(fixture).slice(0, lineCount);
  const actions: SidecarAction[] = [{ type: "spawn" }, { type: "spawned", pid: 7000 }];
  for (const line of lines) {
    const result = parseEventLine(line);
    if (!result.ok) throw new Error(result.reason);
    actions.push({ type: "event", event: result.event });
  }
  return [...actions, ...extra].reduce(sidecarReducer, INITIAL_SIDECAR_STATE);
}
