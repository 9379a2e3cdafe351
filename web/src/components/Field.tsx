import {
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
  useId,
} from "react";

export interface ControlProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: true;
}

interface FieldProps {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
  /** Shows an "Optional" tag next to the label (outside the accessible name). */
  optional?: boolean;
  id?: string;
  className?: string;
  /** Renders the control with the ids that wire it to its label, hint and error. */
  children: (control: ControlProps) => ReactNode;
  /** Content placed after the control on the same row (e.g. an "Auto-fill" button). */
  addon?: ReactNode;
  /** Content below the hint (e.g. a warning). */
  footer?: ReactNode;
}

/** The one form-field layout: label, control, hint and error, all wired for assistive technology. */
export function Field({ label, hint, error, optional, id, className, children, addon, footer }: FieldProps) {
  const generated = useId();
  const controlId = id ?? `field${generated}`;
  const hintId = hint ? `${controlId}-hint` : undefined;
  const errorId = error ? `${controlId}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(" ") || undefined;
  const control = children({
    id: controlId,
    ...(describedBy ? { "aria-describedby": describedBy } : {}),
    ...(error ? { "aria-invalid": true as const } : {}),
  });
  return (
    <div className={["field", error ? "field-invalid" : "", className ?? ""].filter(Boolean).join(" ")}>
      <div className="field-label-row">
        <label htmlFor={controlId} className="field-label">
          {label}
        </label>
        {optional ? <span className="field-optional">Optional</span> : null}
      </div>
      {addon ? (
        <div className="field-control-row">
          {control}
          {addon}
        </div>
      ) : (
        control
      )}
      {error ? (
        <p id={errorId} className="field-error">
          {error}
        </p>
      ) : null}
      {hint ? (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      ) : null}
      {footer}
    </div>
  );
}

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "onChange" | "value" | "id"> & {
  value: string;
  onChange: (value: string) => void;
};

type SharedFieldProps = {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
  optional?: boolean;
  id?: string;
  addon?: ReactNode;
  footer?: ReactNode;
  fieldClassName?: string;
};

export function TextField({
  label,
  hint,
  error,
  optional,
  id,
  addon,
  footer,
  fieldClassName,
  value,
  onChange,
  className,
  ...input
}: SharedFieldProps & InputProps) {
  return (
    <Field
      label={label}
      hint={hint}
      error={error}
      optional={optional}
      id={id}
      addon={addon}
      footer={footer}
      className={fieldClassName}
    >
      {(control) => (
        <input
          className={["input", className ?? ""].filter(Boolean).join(" ")}
          type="text"
          value={value}
          onChange={(event) => onChange(event.target.value)}
          {...input}
          {...control}
        />
      )}
    </Field>
  );
}

export interface Option {
  value: string;
  label: string;
}

type SelectProps = Omit<SelectHTMLAttributes<HTMLSelectElement>, "onChange" | "value" | "id"> & {
  value: string;
  onChange: (value: string) => void;
  options: Option[];
};

export function SelectField({
  label,
  hint,
  error,
  optional,
  id,
  addon,
  footer,
  fieldClassName,
  value,
  onChange,
  options,
  className,
  ...select
}: SharedFieldProps & SelectProps) {
  return (
    <Field
      label={label}
      hint={hint}
      error={error}
      optional={optional}
      id={id}
      addon={addon}
      footer={footer}
      className={fieldClassName}
    >
      {(control) => (
        <select
          className={["input", "select", className ?? ""].filter(Boolean).join(" ")}
          value={value}
          onChange={(event) => onChange(event.target.value)}
          {...select}
          {...control}
        >
          {options.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

type TextAreaProps = Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "onChange" | "value" | "id"> & {
  value: string;
  onChange: (value: string) => void;
};

export function TextAreaField({
  label,
  hint,
  error,
  optional,
  id,
  footer,
  fieldClassName,
  value,
  onChange,
  className,
  ...textarea
}: SharedFieldProps & TextAreaProps) {
  return (
    <Field
      label={label}
      hint={hint}
      error={error}
      optional={optional}
      id={id}
      footer={footer}
      className={fieldClassName}
    >
      {(control) => (
        <textarea
          className={["input", "textarea", className ?? ""].filter(Boolean).join(" ")}
          value={value}
          onChange={(event) => onChange(event.target.value)}
          {...textarea}
          {...control}
        />
      )}
    </Field>
  );
}

interface Choice {
  value: string;
  label: ReactNode;
  description?: ReactNode;
  disabled?: boolean;
}

interface ChoiceGroupBase {
  legend: ReactNode;
  hint?: ReactNode;
  error?: string | null;
  options: Choice[];
  className?: string;
  /** Lay the options out side by side. */
  inline?: boolean;
  /** Visually hide the legend (it stays the group's accessible name). */
  legendHidden?: boolean;
}

type ChoiceGroupProps = ChoiceGroupBase &
  (
    | { type: "radio"; name: string; value: string; onChange: (value: string) => void }
    | { type: "checkbox"; name: string; value: string[]; onChange: (value: string[]) => void }
  );

/** A fieldset of radio buttons or checkboxes with a legend, hint and error. */
export function ChoiceGroup(props: ChoiceGroupProps) {
  const { legend, hint, error, options, className, inline, legendHidden, name } = props;
  const generated = useId();
  const hintId = hint ? `choices${generated}-hint` : undefined;
  const errorId = error ? `choices${generated}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(" ") || undefined;

  function isChecked(value: string): boolean {
    return props.type === "radio" ? props.value === value : props.value.includes(value);
  }

  function toggle(value: string, checked: boolean) {
    if (props.type === "radio") {
      props.onChange(value);
    } else {
      const next = checked ? [...props.value, value] : props.value.filter((v) => v !== value);
      props.onChange(next);
    }
  }

  return (
    <fieldset
      className={["fieldset", error ? "field-invalid" : "", className ?? ""].filter(Boolean).join(" ")}
      aria-describedby={describedBy}
    >
      <legend className={legendHidden ? "visually-hidden" : "field-label"}>{legend}</legend>
      {hint ? (
        <p id={hintId} className="field-hint field-hint-top">
          {hint}
        </p>
      ) : null}
      <div className={inline ? "choices choices-inline" : "choices"}>
        {options.map((option) => {
          const optionId = `choice${generated}-${option.value.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
          return (
            <div key={option.value} className={option.description ? "choice choice-rich" : "choice"}>
              <input
                id={optionId}
                type={props.type}
                name={name}
                value={option.value}
                checked={isChecked(option.value)}
                disabled={option.disabled}
                onChange={(event) => toggle(option.value, event.target.checked)}
                aria-describedby={option.description ? `${optionId}-desc` : undefined}
              />
              <div className="choice-text">
                <label htmlFor={optionId}>{option.label}</label>
                {option.description ? (
                  <p id={`${optionId}-desc`} className="choice-description">
                    {option.description}
                  </p>
                ) : null}
              </div>
            </div>
          );
        })}
      </div>
      {error ? (
        <p id={errorId} className="field-error">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}
