/**
 * "Enable SSO" setup (SPEC §7, §9): the provider picker, the kind's steps (for OIDC: Client ID &
 * Secret → OIDC Configuration → User Details Mapping), then Review & Finish.
 *
 * Everything but the picker's frame and the review is rendered from the server's description of
 * the connection kinds (`GET /api/admin/sso/kinds`, src/sso/kinds/wizard.ts) through the pure
 * functions of ./model.ts: the providers, steps, fields, choices, derived values, checks, request
 * body and review rows. No kind, field or provider is named here: adding a kind on the server (one
 * module in src/sso/kinds/ and one line in its list) needs no change to the web UI.
 */
import { useEffect, useRef, useState } from "react";
import { ApiError, api, errorMessage } from "../../api.js";
import { Alert, AlertMessage } from "../../components/Alert.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { Collapsible } from "../../components/Collapsible.js";
import { ChoiceGroup, SelectField, TextField, VERBATIM, VERBATIM_MONO } from "../../components/Field.js";
import { Form } from "../../components/Form.js";
import { Stepper } from "../../components/Stepper.js";
import { useAction } from "../../hooks.js";
import { UI } from "../../messages.js";
import type { Connection } from "../../types.js";
import {
  type FieldErrors,
  fieldHint,
  firstInvalidStep,
  initialValues,
  type KindDescription,
  kindOf,
  normalizeServerField,
  type Provider,
  placeOfField,
  providerByKey,
  providerForConnection,
  providers,
  REVIEW_STEP,
  secretState,
  setValue,
  summaryRows,
  toRequestBody,
  validateStep,
  valuesFromConnection,
  type WizardField,
  type WizardStep,
  type WizardValues,
} from "./model.js";
import { SummaryList } from "./SummaryList.js";

interface SsoWizardProps {
  /** The connection kinds as the server describes them. */
  kinds: KindDescription[];
  /** The connection being edited; absent when creating. */
  connection?: Connection;
  defaultRedirectUrl: string;
  onCancel: () => void;
  onSaved: (connection: Connection, warnings: string[]) => void;
}

interface Draft {
  provider: Provider;
  values: WizardValues;
}

function newDraft(kinds: KindDescription[], key: string, defaultRedirectUrl: string): Draft | null {
  const provider = providerByKey(kinds, key);
  return provider ? { provider, values: initialValues(provider, defaultRedirectUrl) } : null;
}

function draftOf(kinds: KindDescription[], connection: Connection, defaultRedirectUrl: string): Draft | null {
  const kind = kindOf(kinds, connection.type);
  if (!kind) return null;
  const provider = providerForConnection(kind, connection);
  return { provider, values: valuesFromConnection(provider, connection, defaultRedirectUrl) };
}

export function SsoWizard({ kinds, connection, defaultRedirectUrl, onCancel, onSaved }: SsoWizardProps) {
  const editing = Boolean(connection);
  const [draft, setDraft] = useState<Draft | null>(() =>
    connection
      ? draftOf(kinds, connection, defaultRedirectUrl)
      : newDraft(kinds, providers(kinds)[0]?.preset.key ?? "", defaultRedirectUrl),
  );
  const kindSteps = draft?.provider.kind.steps ?? [];
  const steps: { id: string; title: string }[] = [...kindSteps, REVIEW_STEP];
  // -1 is the provider picker (creation only).
  const [stepIndex, setStepIndex] = useState(editing ? 0 : -1);
  const [reached, setReached] = useState(editing ? steps.length - 1 : 0);
  const [errors, setErrors] = useState<FieldErrors>({});
  /** The save request; its error is also where a problem without a field of its own is shown. */
  const saving = useAction();
  const setFormError = saving.setError;
  const headingRef = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  const step = stepIndex >= 0 ? steps[stepIndex] : undefined;
  const kindStep: WizardStep | undefined = stepIndex >= 0 ? kindSteps[stepIndex] : undefined;
  const hasStoredSecret = Boolean(connection?.hasSecret);

  // Move focus to the new step's heading so keyboard and screen-reader users follow along.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on step change only.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    headingRef.current?.focus();
  }, [stepIndex]);

  // After the render that shows the errors (and, after a server error, their step): focus the first.
  const [focusRequest, setFocusRequest] = useState<{ n: number; fallback: string | undefined } | null>(null);
  useEffect(() => {
    if (!focusRequest) return;
    const invalid = document.querySelector<HTMLElement>(".wizard [aria-invalid='true']");
    if (invalid) invalid.focus();
    else if (focusRequest.fallback) setFormError(focusRequest.fallback);
  }, [focusRequest, setFormError]);

  const title = editing ? "Edit SSO configuration" : "Set up Single Sign-On";

  if (!draft) {
    return (
      <Card className="wizard" title={title}>
        <Alert tone="error" title="This connection can't be edited here">
          <p>The server describes no connection type “{connection?.type ?? ""}”.</p>
        </Alert>
        <div className="wizard-actions">
          <Button onClick={onCancel} variant="ghost">
            Cancel
          </Button>
        </div>
      </Card>
    );
  }
  const { provider, values } = draft;
  const kind = provider.kind;

  function set(name: string, value: string) {
    setDraft((prev) =>
      prev ? { ...prev, values: setValue(prev.provider.kind, prev.values, name, value) } : prev,
    );
    if (errors[name]) setErrors((prev) => ({ ...prev, [name]: undefined }));
  }

  function chooseProvider(key: string) {
    setDraft(newDraft(kinds, key, defaultRedirectUrl));
    setErrors({});
  }

  function goTo(index: number) {
    setStepIndex(index);
    setReached((r) => Math.max(r, index));
    setFormError(null);
  }

  function next() {
    if (!step) {
      goTo(0);
      return;
    }
    if (!kindStep) {
      finish();
      return;
    }
    const found = validateStep(kindStep, values, hasStoredSecret);
    setErrors(found);
    if (Object.values(found).some(Boolean)) {
      focusFirstError();
      return;
    }
    goTo(stepIndex + 1);
  }

  /** Goes to a step with problems and shows them. */
  function showInvalidStep(invalid: { index: number; errors: FieldErrors }) {
    setErrors(invalid.errors);
    goTo(invalid.index);
    focusFirstError();
  }

  /** Stepper navigation: backwards freely, forwards only through valid steps. */
  function jumpTo(index: number) {
    if (index < stepIndex) {
      goTo(index);
      return;
    }
    const invalid = firstInvalidStep(kindSteps, values, hasStoredSecret, stepIndex, index);
    if (invalid) {
      showInvalidStep(invalid);
      return;
    }
    setErrors({});
    goTo(index);
  }

  function back() {
    if (stepIndex > 0) goTo(stepIndex - 1);
    else if (!editing) setStepIndex(-1);
  }

  /** Focuses the first invalid field once shown; `fallback` is shown above the buttons when no field shows it. */
  function focusFirstError(fallback?: string) {
    setFocusRequest((n) => ({ n: (n?.n ?? 0) + 1, fallback }));
  }

  function finish() {
    // Re-check every step before saving; jump to the first one with a problem.
    const invalid = firstInvalidStep(kindSteps, values, hasStoredSecret);
    if (invalid) {
      showInvalidStep(invalid);
      return;
    }
    void saving.run(
      async () => {
        const body = toRequestBody(kind, values);
        const result = connection
          ? await api<{ connection: Connection; warnings?: string[] }>(
              `/api/admin/sso/connections/${connection.id}`,
              { method: "PUT", body },
            )
          : await api<{ connection: Connection; warnings?: string[] }>("/api/admin/sso/connections", {
              method: "POST",
              body,
            });
        onSaved(result.connection, result.warnings ?? []);
      },
      {
        keepBusy: true,
        onError: (cause) => {
          const place =
            cause instanceof ApiError && cause.field
              ? placeOfField(kind, normalizeServerField(cause.field))
              : null;
          if (!place) return errorMessage(cause);
          // Show the message under the field, on its step (with the choice that shows the field).
          const choice = place.choice;
          if (choice) set(choice.name, choice.value);
          setErrors({ [place.field]: errorMessage(cause) });
          goTo(place.stepIndex);
          focusFirstError(errorMessage(cause));
          return null;
        },
      },
    );
  }

  return (
    <Card
      className="wizard"
      title={title}
      description={
        editing
          ? "Saving changes marks earlier tests as expired and turns this connection off until a new test passes."
          : "Connect your identity provider with OpenID Connect. You can test the connection before anyone uses it."
      }
    >
      {step ? (
        <Stepper steps={steps.map((s) => s.title)} current={stepIndex} reached={reached} onSelect={jumpTo} />
      ) : null}
      <Form className="wizard-form" onSubmit={next}>
        {!step ? (
          <ProviderPicker kinds={kinds} value={provider.preset.key} onChange={chooseProvider} />
        ) : (
          <div className="wizard-step">
            <h3 className="wizard-step-title" ref={headingRef} tabIndex={-1}>
              {step.title}
            </h3>
            {kindStep ? (
              <StepFields
                step={kindStep}
                provider={provider}
                values={values}
                errors={errors}
                set={set}
                editing={editing}
                hasStoredSecret={hasStoredSecret}
                defaultRedirectUrl={defaultRedirectUrl}
              />
            ) : (
              <ReviewStep kind={kind} values={values} hasStoredSecret={hasStoredSecret} />
            )}
            {kindStep ? (
              <Collapsible title={`${provider.preset.label} setup guide`} level={4} defaultOpen={false}>
                <Guide lines={provider.preset.guide} />
              </Collapsible>
            ) : null}
          </div>
        )}
        <AlertMessage title="The configuration couldn't be saved" message={saving.error} />
        <div className="wizard-actions">
          <Button onClick={onCancel} disabled={saving.busy} variant="ghost">
            Cancel
          </Button>
          <div className="wizard-actions-main">
            {stepIndex > 0 || (stepIndex === 0 && !editing) ? (
              <Button onClick={back} disabled={saving.busy}>
                Back
              </Button>
            ) : null}
            <Button type="submit" variant="primary" loading={saving.busy}>
              {step && !kindStep ? "Finish" : "Next"}
            </Button>
          </div>
        </div>
      </Form>
    </Card>
  );
}

function Guide({ lines }: { lines: string[] }) {
  return (
    <ol className="guide-list">
      {lines.map((line) => (
        <li key={line}>{line}</li>
      ))}
    </ol>
  );
}

function ProviderPicker({
  kinds,
  value,
  onChange,
}: {
  kinds: KindDescription[];
  value: string;
  onChange: (key: string) => void;
}) {
  const all = providers(kinds);
  const current = all.find((p) => p.preset.key === value)?.preset;
  return (
    <div className="wizard-step">
      <h3 className="wizard-step-title">Choose your identity provider</h3>
      <ChoiceGroup
        type="radio"
        name="provider"
        legend="Identity provider"
        legendHidden
        className="provider-picker"
        value={value}
        onChange={onChange}
        options={all.map(({ preset }) => ({
          value: preset.key,
          label: preset.label,
          description: preset.summary,
        }))}
      />
      {current ? (
        <section className="guide" aria-labelledby="provider-guide-title">
          <h4 id="provider-guide-title" className="guide-title">
            {current.label}: what you'll need
          </h4>
          <Guide lines={current.guide} />
        </section>
      ) : null}
    </div>
  );
}

interface StepFieldsProps {
  step: WizardStep;
  provider: Provider;
  values: WizardValues;
  errors: FieldErrors;
  set: (name: string, value: string) => void;
  editing: boolean;
  hasStoredSecret: boolean;
  defaultRedirectUrl: string;
}

/** One of the kind's steps: its intro, note, choice (with the selected option's fields) and fields. */
function StepFields(props: StepFieldsProps) {
  const { step, values, set } = props;
  const choice = step.choice;
  const selected = choice?.options.find((o) => o.value === values[choice.name]);
  const fields = (when: string | undefined) =>
    step.fields
      .filter((f) => f.when === when)
      .map((field) => <WizardInputField key={field.name} field={field} {...props} />);
  const note = (placement: "start" | "end") =>
    step.note?.placement === placement ? (
      <Alert tone="info">
        <p>{step.note.text}</p>
      </Alert>
    ) : null;
  return (
    <div className="form-grid">
      {step.intro ? <p className="muted">{step.intro}</p> : null}
      {note("start")}
      {choice ? (
        <>
          <ChoiceGroup
            type="radio"
            name={choice.name}
            legend={choice.label}
            hint={choice.hint}
            inline
            value={values[choice.name] ?? choice.default}
            onChange={(v) => set(choice.name, v)}
            options={choice.options.map((o) => ({ value: o.value, label: o.label }))}
          />
          {selected?.legend ? (
            <fieldset className="fieldset fieldset-boxed">
              <legend className="field-label">{selected.legend}</legend>
              <div className="form-grid">{fields(selected.value)}</div>
            </fieldset>
          ) : selected ? (
            fields(selected.value)
          ) : null}
          {selected?.note ? (
            <Alert tone="info">
              <p>{selected.note}</p>
            </Alert>
          ) : null}
        </>
      ) : null}
      {fields(undefined)}
      {note("end")}
    </div>
  );
}

/** URLs are typed exactly, in the monospaced input. */
const URL_INPUT = { ...VERBATIM_MONO, type: "url" } as const;

/** One field of the description, drawn by its `input` kind. */
function WizardInputField({
  field,
  provider,
  values,
  errors,
  set,
  editing,
  hasStoredSecret,
  defaultRedirectUrl,
}: StepFieldsProps & { field: WizardField }) {
  const value = values[field.name] ?? "";
  const common = {
    label: field.label,
    hint: fieldHint(field, values),
    value,
    onChange: (v: string) => set(field.name, v),
    error: errors[field.name],
    optional: field.optional,
    required: field.required,
    placeholder: provider.preset.placeholders?.[field.name] ?? field.placeholder,
    ...(field.maxLength ? { maxLength: field.maxLength } : {}),
    ...(field.autoComplete ? { autoComplete: field.autoComplete } : {}),
  };
  const typing = field.mono ? VERBATIM_MONO : field.verbatim ? VERBATIM : {};

  switch (field.input) {
    case "fixed":
      return (
        <SelectField
          {...common}
          value={field.default ?? ""}
          onChange={() => undefined}
          options={field.options ?? []}
          required={undefined}
          disabled
        />
      );
    case "select":
      return <SelectField {...common} options={field.options ?? []} required={undefined} />;
    case "secret": {
      const keep = editing && hasStoredSecret;
      return (
        <TextField
          {...common}
          type="password"
          hint={keep ? "Leave blank to keep the current secret." : common.hint}
          placeholder={keep ? UI.secretMask : common.placeholder}
          required={field.required && !hasStoredSecret}
          autoComplete="new-password"
          spellCheck={false}
        />
      );
    }
    case "url":
      return <TextField {...common} {...URL_INPUT} />;
    case "redirect": {
      const edited = value.trim() !== "" && value.trim() !== defaultRedirectUrl;
      return (
        <TextField
          {...common}
          {...URL_INPUT}
          addon={
            <Button onClick={() => set(field.name, defaultRedirectUrl)} aria-describedby={undefined}>
              Auto-fill
            </Button>
          }
          footer={
            edited ? (
              <p className="field-warning" role="status">
                {UI.redirectUrlWarning}
              </p>
            ) : null
          }
        />
      );
    }
    default:
      return <TextField {...common} {...typing} />;
  }
}

function ReviewStep({
  kind,
  values,
  hasStoredSecret,
}: {
  kind: KindDescription;
  values: WizardValues;
  hasStoredSecret: boolean;
}) {
  return (
    <div className="stack">
      <p className="muted">
        Double-check all entries. After saving, run a test: SSO can be enabled only after a test passes.
      </p>
      <SummaryList rows={summaryRows(kind, values, secretState(kind, values, hasStoredSecret))} />
    </div>
  );
}
