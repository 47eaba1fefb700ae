import { formatSeconds } from "../format";
import type { TurnLatency } from "../protocol";

const PARTS: readonly [keyof TurnLatency, string][] = [
  ["end_of_turn_s", "end of turn"],
  ["stt_s", "speech recognition"],
  ["llm_ttft_s", "LLM first token"],
  ["llm_first_sentence_s", "first sentence"],
  ["tts_ttfb_s", "speech synthesis"],
];

export function LatencyView({ latency }: { latency: TurnLatency | null }) {
  if (!latency) return null;
  const parts = PARTS.filter(([key]) => latency[key] !== null);
  return (
    <section className="vr-latency" aria-label="Latency of the last turn">
      <p>
        Last reply started{" "}
        <strong>{latency.e2e_s === null ? "(not measured)" : formatSeconds(latency.e2e_s)}</strong> after you
        stopped speaking.
      </p>
      {parts.length > 0 ? (
        <dl>
          {parts.map(([key, label]) => (
            <div key={key}>
              <dt>{label}</dt>
              <dd>{formatSeconds(latency[key] ?? 0)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </section>
  );
}
