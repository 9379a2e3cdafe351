import { type ReactNode, useId } from "react";

interface ToggleProps {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  /** A line explaining the setting. */
  description?: ReactNode;
  /** Why the toggle cannot be used right now; shown under it. */
  disabledReason?: ReactNode;
  busy?: boolean;
}

/** A switch: `<input type="checkbox" role="switch">` with a visible label. */
export function Toggle({
  label,
  checked,
  onChange,
  disabled,
  description,
  disabledReason,
  busy,
}: ToggleProps) {
  const id = useId();
  const inputId = `toggle${id}`;
  const descId = description ? `${inputId}-desc` : undefined;
  const reasonId = disabledReason ? `${inputId}-reason` : undefined;
  const describedBy = [descId, reasonId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={["toggle-row", disabled ? "toggle-row-disabled" : ""].filter(Boolean).join(" ")}>
      <div className="toggle-text">
        <label htmlFor={inputId} className="toggle-label">
          {label}
        </label>
        {description ? (
          <p id={descId} className="toggle-description">
            {description}
          </p>
        ) : null}
        {disabledReason ? (
          <p id={reasonId} className="toggle-reason">
            {disabledReason}
          </p>
        ) : null}
      </div>
      <input
        id={inputId}
        className="toggle"
        type="checkbox"
        role="switch"
        checked={checked}
        aria-checked={checked}
        disabled={disabled || busy}
        aria-describedby={describedBy}
        aria-busy={busy || undefined}
        onChange={(event) => onChange(event.target.checked)}
      />
    </div>
  );
}
