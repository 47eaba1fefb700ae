import { formatBytes, formatSeconds } from "../format";
import type { ModelDownload } from "../sidecarState";

export interface ModelProgressListProps {
  downloads: Readonly<Record<string, ModelDownload>>;
}

export function describeDownload(d: ModelDownload): string {
  switch (d.phase) {
    case "model_download_waiting":
      return `${d.model}: waiting${d.message ? ` (${d.message})` : ""}`;
    case "model_download_retry":
      return `${d.model}: retrying${d.message ? ` (${d.message})` : ""}`;
    case "model_download_failed":
      return `${d.model}: failed${d.message ? ` (${d.message})` : ""}`;
  }
  const percent = d.total ? Math.floor((d.bytes / d.total) * 100) : null;
  const amount = d.total ? `${formatBytes(d.bytes)} of ${formatBytes(d.total)}` : formatBytes(d.bytes);
  const eta = d.etaS === null ? "" : `, about ${formatSeconds(d.etaS)} left`;
  return `${d.model}: ${percent === null ? "" : `${percent} %, `}${amount}${eta}`;
}

/** Model downloads of the first start; finished ones are left out, failed ones stay. */
export function ModelProgressList({ downloads }: ModelProgressListProps) {
  const shown = Object.values(downloads).filter((d) => !d.done || d.phase === "model_download_failed");
  if (shown.length === 0) return null;
  return (
    <section className="vr-downloads" aria-label="Model downloads">
      <h3>Downloading speech models (first start only)</h3>
      <ul>
        {shown.map((d) => {
          const text = describeDownload(d);
          const measured = d.total !== null && d.phase !== "model_download_waiting";
          return (
            <li key={d.model} className={d.phase === "model_download_failed" ? "vr-downloads--failed" : undefined}>
              <progress
                max={measured ? (d.total ?? undefined) : undefined}
                value={measured ? d.bytes : undefined}
                aria-label={`Downloading ${d.model}`}
                aria-valuetext={text}
              />
              <span>{text}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
