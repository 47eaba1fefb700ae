import { useEffect, useRef } from "react";

import type { TranscriptMessage } from "../transcript";

export interface TranscriptViewProps {
  messages: readonly TranscriptMessage[];
  assistantName: string;
}

/** Both sides' words as they are recognised or spoken; interim text is marked as such. */
export function TranscriptView({ messages, assistantName }: TranscriptViewProps) {
  const end = useRef<HTMLLIElement>(null);
  const visible = messages.filter((m) => m.text.trim() !== "");
  const count = visible.length;
  const lastText = visible[count - 1]?.text;
  useEffect(() => {
    end.current?.scrollIntoView({ block: "nearest" });
  }, [count, lastText]);
  return (
    <ol className="vr-transcript" role="log" aria-live="polite" aria-label="Transcript" tabIndex={0}>
      {visible.length === 0 ? <li className="vr-transcript__empty">The conversation appears here.</li> : null}
      {visible.map((m, i) => (
        <li
          key={m.id}
          ref={i === visible.length - 1 ? end : undefined}
          className={`vr-msg vr-msg--${m.speaker}${m.final ? "" : " vr-msg--interim"}`}
        >
          <span className="vr-msg__who">{m.speaker === "user" ? "You" : assistantName}</span>
          <span className="vr-msg__text">
            {m.text}
            {m.final ? null : <span className="vr-visually-hidden"> (still listening)</span>}
            {m.interrupted ? <span className="vr-msg__note"> (interrupted)</span> : null}
          </span>
        </li>
      ))}
    </ol>
  );
}
