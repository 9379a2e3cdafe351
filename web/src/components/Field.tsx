import {
  type ChangeEvent,
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
  useId,
} from "react";
import { classes, describedBy } from "../classes.js";

export interface ControlProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: true;
}

/** A paragraph that is only there when it has something to say (a hint, an error, a description). */
export function Note({ id, className, content }: { id?: string; className: string; content: ReactNode }) {
  return content ? (
    <p id={id} className={className}>
      {content}
    </p>
  ) : null;
}

/** What every form field takes besides its control: label, hint, error and layout. */
interface FieldFrameProps {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
  /** Shows an "Optional" tag next to the label (outside the accessible name). */
  optional?: boolean;
  id?: string;
  /** Content placed after the control on the same row (e.g. an "Auto-fill" button). */
  addon?: ReactNode;
  /** Content below the hint (e.g. a warning). */
  footer?: ReactNode;
}

interface FieldProps extends FieldFrameProps {
  className?: string;
  /** Renders the control with the ids that wire it to its label, hint and error. */
  children: (control: ControlProps) => ReactNode;
}

/** The one form-field layout: label, control, hint and error, all wired for assistive technology. */
export function Field({ label, hint, error, optional, id, className, children, addon, footer }: FieldProps) {
  const generated = useId();
  const controlId = id ?? `field${generated}`;
  const hintId = hint ? `${controlId}-hint` : undefined;
  const errorId = error ? `${controlId}-error` : undefined;
  const described = describedBy(errorId, hintId);
  const control = children({
    id: controlId,
    ...(described ? { "aria-describedby": described } : {}),
    ...(error ? { "aria-invalid": true as const } : {}),
  });
  return (
    <div className={classes("field", error && "field-invalid", className)}>
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
      <Note id={errorId} className="field-error" content={error} />
      <Note id={hintId} className="field-hint" content={hint} />
      {footer}
    </div>
  );
}

/** For values typed exactly as given (IDs, codes, URLs): no spell-check, no capitalisation. */
export const VERBATIM = { spellCheck: false, autoCapitalize: "none" } as const;

/** The same, in the monospaced input used for identifiers and claim names. */
export const VERBATIM_MONO = { ...VERBATIM, className: "input-mono" } as const;

/** The keys of `V` that hold strings (what a text or select field edits). */
type StringKeys<V> = { [K in keyof V]: V[K] extends string ? K : never }[keyof V] & string;

/**
 * Ties fields to a form's values: `bind("email")` gives a field its value, its setter and its
 * error. `errorKey` names a value's error when it is not the value's own key.
 */
export function fieldBinder<V>(
  values: V,
  set: <K extends keyof V>(key: K, value: V[K]) => void,
  errors: Partial<Record<string, string>>,
  errorKey: (key: string) => string = (key) => key,
) {
  return <K extends StringKeys<V>>(key: K) => ({
    value: values[key] as string,
    // The field offers only values of the key's type (a select lists just its options).
    onChange: (value: string) => set(key, value as V[K]),
    error: errors[errorKey(key)],
  });
}

/** A field's props: the frame's, the control's own attributes, and a string value with its setter. */
type FieldKindProps<Attributes> = FieldFrameProps &
  Omit<Attributes, "onChange" | "value" | "id"> & {
    value: string;
    onChange: (value: string) => void;
    className?: string;
    /** Class names for the field wrapper (the control takes `className`). */
    fieldClassName?: string;
  };

type ControlAttributes<Attributes> = Omit<Attributes, "onChange" | "value" | "id"> &
  ControlProps & {
    className: string;
    value: string;
    onChange: (event: ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) => void;
  };

/**
 * The one wrapper behind TextField, SelectField and TextAreaField: the frame's props go to Field,
 * everything else (with the wiring ids, the `input` classes and a change handler that passes the
 * new value) to the control that `render` draws.
 */
function renderField<Attributes>(
  props: FieldKindProps<Attributes>,
  controlClass: string,
  render: (control: ControlAttributes<Attributes>) => ReactNode,
) {
  const {
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
    ...own
  } = props;
  return (
    <Field {...{ label, hint, error, optional, id, addon, footer }} className={fieldClassName}>
      {(wiring) =>
        render({
          // What is left is the control's own attributes (the frame's props are taken out above).
          ...(own as Omit<Attributes, "onChange" | "value" | "id">),
          ...wiring,
          className: classes(controlClass, className),
          value,
          onChange: (event) => onChange(event.target.value),
        })
      }
    </Field>
  );
}

export function TextField(props: FieldKindProps<InputHTMLAttributes<HTMLInputElement>>) {
  return renderField(props, "input", (control) => <input type="text" {...control} />);
}

export interface Option {
  value: string;
  label: string;
}

export function SelectField({
  options,
  ...props
}: FieldKindProps<SelectHTMLAttributes<HTMLSelectElement>> & { options: Option[] }) {
  return renderField(props, "input select", (control) => (
    <select {...control}>
      {options.map((option) => (
        <option key={option.value} value={option.value}>
          {option.label}
        </option>
      ))}
    </select>
  ));
}

export function TextAreaField(props: FieldKindProps<TextareaHTMLAttributes<HTMLTextAreaElement>>) {
  return renderField(props, "input textarea", (control) => <textarea {...control} />);
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
      className={classes("fieldset", error && "field-invalid", className)}
      aria-describedby={describedBy(errorId, hintId)}
    >
      <legend className={legendHidden ? "visually-hidden" : "field-label"}>{legend}</legend>
      <Note id={hintId} className="field-hint field-hint-top" content={hint} />
      <div className={inline ? "choices choices-inline" : "choices"}>
        {options.map((option) => {
          const optionId = `choice${generated}-${option.value.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
          const descriptionId = option.description ? `${optionId}-desc` : undefined;
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
                aria-describedby={descriptionId}
              />
              <div className="choice-text">
                <label htmlFor={optionId}>{option.label}</label>
                <Note id={descriptionId} className="choice-description" content={option.description} />
              </div>
            </div>
          );
        })}
      </div>
      <Note id={errorId} className="field-error" content={error} />
    </fieldset>
  );
}
