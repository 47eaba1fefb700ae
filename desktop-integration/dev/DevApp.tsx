import { useMemo, useState, type SyntheticEvent } from "react";

import type { PersonaOption } from "../src/components/PersonaSelect";
import { INITIAL_SIDECAR_STATE } from "../src/sidecarState";
import { fakeControlFetch, SESSION_RESPONSE } from "../src/testing/fakeControlApi";
import type { TranscriptMessage } from "../src/transcript";
import { VoiceRoom } from "../src/VoiceRoom";
import { createDemoRoom } from "./demoRoom";
import { manualReadyState } from "./manualState";

const PERSONAS: PersonaOption[] = [
  { id: "assistant", label: "Assistant", persona: { name: "Assistant", language: "en" } },
  {
    id: "coach",
    label: "Coach (brief, encouraging)",
    persona: { name: "Coach", instructions: "Answer in one or two short, encouraging sentences.", language: "en" },
  },
];

const params = new URLSearchParams(window.location.search);
const DEMO = params.has("demo");

function validControlUrl(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === "http:" && ["127.0.0.1", "localhost"].includes(url.hostname) ? null : "Use http://127.0.0.1:<port>.";
  } catch {
    return "Not a URL.";
  }
}

/**
 * Mounts VoiceRoom in a normal browser against a running `voice-sidecar up`: paste the
 * control URL and token of its `ready` event, or pass `?control_url=…&token=…`.
 * `?demo` plays a scripted exchange with no backend at all.
 */
export function DevApp() {
  const [controlUrl, setControlUrl] = useState(params.get("control_url") ?? "http://127.0.0.1:");
  const [token, setToken] = useState(params.get("token") ?? "");
  const [connected, setConnected] = useState<{ controlUrl: string; token: string } | null>(() => {
    const url = params.get("control_url");
    const t = params.get("token");
    return url && t && validControlUrl(url) === null ? { controlUrl: url, token: t } : null;
  });
  const [formError, setFormError] = useState<string | null>(null);
  const [saved, setSaved] = useState<TranscriptMessage[]>([]);

  const demoFetch = useMemo(
    () =>
      fakeControlFetch({
        "GET /key/status": { status: 200, body: { available: true, source: "keyring" } },
        "POST /session": { status: 200, body: { ...SESSION_RESPONSE, identity: "user-demo", room: "demo-room" } },
      }).fetch,
    [],
  );

  const sidecar = DEMO
    ? manualReadyState("http://127.0.0.1:9", "demo")
    : connected
      ? manualReadyState(connected.controlUrl, connected.token)
      : INITIAL_SIDECAR_STATE;

  const connect = (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const problem = validControlUrl(controlUrl.trim()) ?? (token.trim() === "" ? "Paste the token of the ready event." : null);
    setFormError(problem);
    if (problem === null) setConnected({ controlUrl: controlUrl.trim(), token: token.trim() });
  };

  return (
    <main className="dev">
      <h1>VoiceRoom dev page</h1>
      {DEMO ? (
        <p className="dev-banner" role="note">
          Demo mode: a scripted exchange played by the test fakes; no backend is involved.
        </p>
      ) : (
        <form className="dev-connect" onSubmit={connect} aria-label="Connect to a running voice-sidecar">
          <label>
            Control URL
            <input value={controlUrl} onChange={(e) => { setControlUrl(e.target.value); }} spellCheck={false} />
          </label>
          <label>
            Token
            <input type="password" value={token} onChange={(e) => { setToken(e.target.value); }} autoComplete="off" />
          </label>
          <button type="submit">Connect</button>
          {formError ? <p className="dev-error" role="alert">{formError}</p> : null}
          <p>
            Both come from the <code>ready</code> line that{" "}
            <code>voice-sidecar up --dev-origin {window.location.origin}</code> prints (the flag lets this page call the
            control API).
          </p>
        </form>
      )}
      <VoiceRoom
        key={DEMO ? "demo" : `${connected?.controlUrl ?? ""}|${connected?.token ?? ""}`}
        sidecar={sidecar}
        personas={PERSONAS}
        onMessage={(message) => {
          setSaved((list) => [...list, message]);
        }}
        {...(DEMO ? { fetch: demoFetch, createRoom: createDemoRoom, autoStart: true } : {})}
      />
      <section className="dev-saved" aria-label="Messages handed to onMessage">
        <h2>Handed to onMessage (what the app would store)</h2>
        {saved.length === 0 ? (
          <p>None yet.</p>
        ) : (
          <ol>
            {saved.map((m) => (
              <li key={m.id}>
                {m.speaker}: {m.text}
              </li>
            ))}
          </ol>
        )}
      </section>
    </main>
  );
}
