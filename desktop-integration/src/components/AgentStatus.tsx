import type { ConnectionPhase } from "../livekit";
import type { AgentState } from "../protocol";

export interface AgentStatusProps {
  connection: ConnectionPhase;
  agentState: AgentState | null;
  micMuted: boolean;
}

type Look = { label: string; tone: string };

export function describeStatus({ connection, agentState, micMuted }: AgentStatusProps): Look {
  switch (connection) {
    case "idle":
      return { label: "Not in a conversation", tone: "idle" };
    case "requesting_session":
    case "connecting":
      return { label: "Connecting…", tone: "busy" };
    case "reconnecting":
      return { label: "Reconnecting…", tone: "busy" };
    case "failed":
      return { label: "Disconnected", tone: "error" };
    case "connected":
      break;
  }
  switch (agentState) {
    case "listening":
      return micMuted ? { label: "Muted", tone: "muted" } : { label: "Listening", tone: "listening" };
    case "thinking":
      return { label: "Thinking", tone: "thinking" };
    case "speaking":
      return { label: "Speaking", tone: "speaking" };
    case "initializing":
      return { label: "Assistant is getting ready…", tone: "busy" };
    case null:
      return { label: "Waiting for the assistant…", tone: "busy" };
  }
}

/** Listening / thinking / speaking, announced politely to screen readers. */
export function AgentStatus(props: AgentStatusProps) {
  const { label, tone } = describeStatus(props);
  return (
    <div className={`vr-status vr-status--${tone}`} role="status" aria-live="polite" data-testid="agent-status">
      <span className="vr-status__dot" aria-hidden="true" />
      <span className="vr-status__label">{label}</span>
    </div>
  );
}
