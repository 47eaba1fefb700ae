import { useId } from "react";

import type { Persona } from "../protocol";

export interface PersonaOption {
  id: string;
  label: string;
  persona: Persona;
}

export interface PersonaSelectProps {
  options: readonly PersonaOption[];
  value: string;
  onChange: (id: string) => void;
  disabled: boolean;
}

export function PersonaSelect({ options, value, onChange, disabled }: PersonaSelectProps) {
  const id = useId();
  const hint = `${id}-hint`;
  return (
    <div className="vr-field">
      <label htmlFor={id}>Persona</label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        aria-describedby={disabled ? hint : undefined}
        onChange={(e) => {
          onChange(e.target.value);
        }}
      >
        {options.map((o) => (
          <option key={o.id} value={o.id}>
            {o.label}
          </option>
        ))}
      </select>
      {disabled ? (
        <span id={hint} className="vr-hint">
          Stop the conversation to change the persona.
        </span>
      ) : null}
    </div>
  );
}
