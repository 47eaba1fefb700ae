import type { SidecarState } from "../sidecarState";
import { ErrorPanel } from "./ErrorPanel";
import { ModelProgressList } from "./ModelProgressList";

export interface BackendStatusProps {
  sidecar: SidecarState;
  onRetry?: (() => void) | undefined;
}

function LogPath({ path }: { path: string | null }) {
  if (!path) return <p>The sidecar did not say where its log is; run `voice-sidecar up` in a terminal to see it.</p>;
  return (
    <p>
      Details are in the log: <code className="vr-path">{path}</code>
    </p>
  );
}

/** What the voice backend is doing when it is not simply ready. */
export function BackendStatus({ sidecar, onRetry }: BackendStatusProps) {
  const retry = onRetry ? (
    <button type="button" onClick={onRetry}>
      Try again
    </button>
  ) : null;
  switch (sidecar.phase) {
    case "ready":
      return null;
    case "idle":
    case "stopped":
      return (
        <div className="vr-backend" role="status">
          <p>The voice backend is not running.</p>
          {onRetry ? (
            <button type="button" onClick={onRetry}>
              Start voice backend
            </button>
          ) : null}
        </div>
      );
    case "spawning":
    case "starting":
      return (
        <div className="vr-backend" role="status" aria-busy="true">
          <p>Starting the voice backend…</p>
          <ModelProgressList downloads={sidecar.downloads} />
        </div>
      );
    case "restarting":
      return (
        <div className="vr-backend" role="status" aria-busy="true">
          <p>The voice backend stopped unexpectedly; restarting it (attempt {sidecar.restarts})…</p>
        </div>
      );
    case "stopping":
      return (
        <div className="vr-backend" role="status">
          <p>Stopping the voice backend…</p>
        </div>
      );
    case "failed":
      return (
        <ErrorPanel title="The voice backend could not start" actions={retry} takeFocus testId="backend-failed">
          <p>{sidecar.failure?.message ?? "It stopped and was not restarted."}</p>
          <LogPath path={sidecar.logFile} />
          <p>Push-to-talk still works in the meantime.</p>
        </ErrorPanel>
      );
  }
}
