import { type ReactNode, useId, useState } from "react";
import { classes, describedBy } from "../classes.js";
import { Note } from "./Field.js";

interface ToggleProps {
  label: string;
  checked: boolean;
  /** May return a promise: the switch shows the new state at once and keeps it until the promise settles. */
  onChange: (checked: boolean) => void | Promise<void>;
  disabled?: boolean;
  /** A line explaining the setting. */
  description?: ReactNode;
  /** Why the toggle cannot be used right now; shown under it. */
  disabledReason?: ReactNode;
}

/** A switch: `<input type="checkbox" role="switch">` with a visible label. */
export function Toggle({ label, checked, onChange, disabled, description, disabledReason }: ToggleProps) {
  const id = useId();
  const [pending, setPending] = useState<boolean | null>(null);
  const inputId = `toggle${id}`;
  const descId = description ? `${inputId}-desc` : undefined;
  const reasonId = disabledReason ? `${inputId}-reason` : undefined;
  const shown = pending ?? checked;
  const busy = pending !== null;

  function change(next: boolean) {
    setPending(next);
    Promise.resolve(onChange(next)).finally(() => setPending(null));
  }

  return (
    <div className={classes("toggle-row", disabled && "toggle-row-disabled")}>
      <div className="toggle-text">
        <label htmlFor={inputId} className="toggle-label">
          {label}
        </label>
        <Note id={descId} className="toggle-description" content={description} />
        <Note id={reasonId} className="toggle-reason" content={disabledReason} />
      </div>
      <input
        id={inputId}
        className="toggle"
        type="checkbox"
        role="switch"
        checked={shown}
        aria-checked={shown}
        disabled={disabled}
        aria-describedby={describedBy(descId, reasonId)}
        aria-busy={busy || undefined}
        onChange={(event) => {
          if (!busy) change(event.target.checked);
        }}
      />
    </div>
  );
}
