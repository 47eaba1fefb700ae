import { useId, useState, type SyntheticEvent } from "react";

import { ControlApiError } from "../controlApi";

export interface ApiKeyFormProps {
  /** `PUT /key` of the control API. */
  putKey: (key: string) => Promise<void>;
  onStored: () => void;
}

function explain(error: unknown): string {
  if (error instanceof ControlApiError) {
    if (error.status === 422) return error.message || "This does not look like a Nebius API key.";
    if (error.status === 503)
      return `No keyring works on this system, so the key cannot be stored safely (${error.message}). Set NEBIUS_API_KEY in the environment instead.`;
    if (error.unreachable) return "The voice backend did not answer. Wait until it is running, then try again.";
    return error.message;
  }
  return String(error);
}

/** Stores the Nebius API key in the OS keyring through `PUT /key`. The key never stays in state after a save. */
export function ApiKeyForm({ putKey, onStored }: ApiKeyFormProps) {
  const id = useId();
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (trimmed === "") {
      setError("Paste your API key first.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await putKey(trimmed);
      setKey("");
      onStored();
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="vr-keyform"
      aria-labelledby={`${id}-title`}
      onSubmit={(e) => {
        void submit(e);
      }}
      data-testid="api-key-form"
    >
      <h3 id={`${id}-title`}>Add your Nebius API key</h3>
      <p>
        The assistant needs a key for its language model. It is kept in your system keyring, never in a file, and
        only sent to Nebius.
      </p>
      <label htmlFor={`${id}-key`}>API key</label>
      <input
        id={`${id}-key`}
        type="password"
        autoComplete="off"
        spellCheck={false}
        value={key}
        aria-invalid={error !== null}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => {
          setKey(e.target.value);
        }}
      />
      <button type="submit" disabled={busy}>
        {busy ? "Saving…" : "Save key"}
      </button>
      {error ? (
        <p id={`${id}-error`} className="vr-field-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}
