import { useEffect, useRef, useState } from "react";
import { ApiError, api, errorMessage } from "../../api.js";
import { Alert, AlertMessage } from "../../components/Alert.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { Collapsible } from "../../components/Collapsible.js";
import {
  ChoiceGroup,
  fieldBinder,
  SelectField,
  TextField,
  VERBATIM,
  VERBATIM_MONO,
} from "../../components/Field.js";
import { Form } from "../../components/Form.js";
import { Stepper } from "../../components/Stepper.js";
import { useAction } from "../../hooks.js";
import { UI } from "../../messages.js";
import type { Connection } from "../../types.js";
import {
  type FieldErrors,
  fieldKey,
  initialValues,
  normalizeServerField,
  stepOfField,
  stepsFor,
  summaryRows,
  toPayload,
  toRequestBody,
  validateStep,
  valuesFromConnection,
  type WizardValues,
} from "./model.js";
import { azureDiscoveryUrl, MAPPING_HELP, PROVIDERS, type ProviderKey, providerByKey } from "./providers.js";
import { SummaryList } from "./SummaryList.js";

interface SsoWizardProps {
  /** The connection being edited; absent when creating. */
  connection?: Connection;
  defaultRedirectUrl: string;
  onCancel: () => void;
  onSaved: (connection: Connection, warnings: string[]) => void;
}

/** "Enable SSO" setup: provider picker, then Client ID & Secret → OIDC Configuration → User Details Mapping → Review & Finish. */
export function SsoWizard({ connection, defaultRedirectUrl, onCancel, onSaved }: SsoWizardProps) {
  const editing = Boolean(connection);
  const [values, setValues] = useState<WizardValues>(() =>
    connection
      ? valuesFromConnection(connection, defaultRedirectUrl)
      : initialValues("oidc", defaultRedirectUrl),
  );
  // -1 is the provider picker (creation only).
  const [stepIndex, setStepIndex] = useState(editing ? 0 : -1);
  const [reached, setReached] = useState(editing ? stepsFor(connection!.type).length - 1 : 0);
  const [errors, setErrors] = useState<FieldErrors>({});
  /** The save request; its error is also where a problem without a field of its own is shown. */
  const saving = useAction();
  const setFormError = saving.setError;
  const headingRef = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);

  const steps = stepsFor(values.type);
  const step = stepIndex >= 0 ? steps[stepIndex] : undefined;
  const hasStoredSecret = Boolean(connection?.hasSecret);
  const provider = providerByKey(values.provider);

  // Move focus to the new step's heading so keyboard and screen-reader users follow along.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on step change only.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    headingRef.current?.focus();
  }, [stepIndex]);

  function set<K extends keyof WizardValues>(key: K, value: WizardValues[K]) {
    setValues((prev) => {
      const next = { ...prev, [key]: value };
      // Azure: derive the metadata URL from the tenant while the admin has not typed their own.
      if (key === "azureTenantId" && prev.type === "azure") {
        const previousDerived = prev.azureTenantId ? azureDiscoveryUrl(prev.azureTenantId) : "";
        if (!prev.discoveryUrl || prev.discoveryUrl === previousDerived) {
          next.discoveryUrl = String(value).trim() ? azureDiscoveryUrl(String(value)) : "";
        }
      }
      return next;
    });
    const errorKey = fieldKey(key);
    if (errors[errorKey]) setErrors((prev) => ({ ...prev, [errorKey]: undefined }));
  }

  const bind = fieldBinder(values, set, errors, fieldKey);

  function chooseProvider(key: ProviderKey) {
    setValues(initialValues(key, defaultRedirectUrl));
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
    if (step.id === "review") {
      finish();
      return;
    }
    const found = validateStep(step.id, values, hasStoredSecret);
    setErrors(found);
    if (Object.values(found).some(Boolean)) {
      focusFirstError();
      return;
    }
    goTo(stepIndex + 1);
  }

  /** The first of the steps `from` to `to` (excluded) whose fields have problems, with them. */
  function firstInvalidStep(from: number, to: number): { index: number; errors: FieldErrors } | null {
    for (let index = from; index < to; index++) {
      const s = steps[index];
      if (!s || s.id === "review") continue;
      const found = validateStep(s.id, values, hasStoredSecret);
      if (Object.values(found).some(Boolean)) return { index, errors: found };
    }
    return null;
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
    const invalid = firstInvalidStep(stepIndex, index);
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

  /** Focuses the first invalid field; `fallback` is shown above the buttons when no field shows it. */
  function focusFirstError(fallback?: string) {
    window.setTimeout(() => {
      const invalid = document.querySelector<HTMLElement>(".wizard [aria-invalid='true']");
      if (invalid) invalid.focus();
      else if (fallback) setFormError(fallback);
    }, 0);
  }

  function finish() {
    // Re-check every step before saving; jump to the first one with a problem.
    const invalid = firstInvalidStep(0, steps.length);
    if (invalid) {
      showInvalidStep(invalid);
      return;
    }
    void saving.run(
      async () => {
        const payload = toRequestBody(values);
        const result = connection
          ? await api<{ connection: Connection; warnings?: string[] }>(
              `/api/admin/sso/connections/${connection.id}`,
              {
                method: "PUT",
                body: payload,
              },
            )
          : await api<{ connection: Connection; warnings?: string[] }>("/api/admin/sso/connections", {
              method: "POST",
              body: payload,
            });
        onSaved(result.connection, result.warnings ?? []);
      },
      {
        keepBusy: true,
        onError: (cause) => {
          if (cause instanceof ApiError && cause.field) {
            const key = normalizeServerField(cause.field);
            const target = stepOfField(key);
            if (target !== "review") {
              setErrors({ [key]: cause.message });
              goTo(steps.findIndex((s) => s.id === target));
              // A field without a control on this form (e.g. one of another type) still shows its message.
              focusFirstError(cause.message);
              return null;
            }
          }
          return errorMessage(cause);
        },
      },
    );
  }

  const title = editing ? "Edit SSO configuration" : "Set up Single Sign-On";

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
          <ProviderPicker value={values.provider} onChange={chooseProvider} />
        ) : (
          <div className="wizard-step">
            <h3 className="wizard-step-title" ref={headingRef} tabIndex={-1}>
              {step.title}
            </h3>
            {step.id === "credentials" ? (
              <CredentialsStep
                values={values}
                bind={bind}
                editing={editing}
                hasStoredSecret={hasStoredSecret}
              />
            ) : step.id === "oidc" ? (
              <OidcStep values={values} bind={bind} set={set} defaultRedirectUrl={defaultRedirectUrl} />
            ) : step.id === "mapping" ? (
              <MappingStep bind={bind} />
            ) : (
              <ReviewStep values={values} editing={editing} hasStoredSecret={hasStoredSecret} />
            )}
            {step.id !== "review" ? (
              <Collapsible title={`${provider.label} setup guide`} level={4} defaultOpen={false}>
                <ol className="guide-list">
                  {provider.guide.map((line) => (
                    <li key={line}>{line}</li>
                  ))}
                </ol>
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
              {step?.id === "review" ? "Finish" : "Next"}
            </Button>
          </div>
        </div>
      </Form>
    </Card>
  );
}

type SetValue = <K extends keyof WizardValues>(key: K, value: WizardValues[K]) => void;

/** Gives a field its value, setter and error: `<TextField {...bind("clientId")} />`. */
type Bind = ReturnType<typeof fieldBinder<WizardValues>>;

/** A text field of a step that lists its fields. */
interface FieldSpec<Key> {
  key: Key;
  label: string;
  required?: boolean;
  optional?: boolean;
}

interface StepProps {
  values: WizardValues;
  bind: Bind;
}

function ProviderPicker({ value, onChange }: { value: ProviderKey; onChange: (key: ProviderKey) => void }) {
  const provider = providerByKey(value);
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
        onChange={(v) => onChange(v as ProviderKey)}
        options={PROVIDERS.map((p) => ({ value: p.key, label: p.label, description: p.summary }))}
      />
      <section className="guide" aria-labelledby="provider-guide-title">
        <h4 id="provider-guide-title" className="guide-title">
          {provider.label}: what you'll need
        </h4>
        <ol className="guide-list">
          {provider.guide.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ol>
      </section>
    </div>
  );
}

function CredentialsStep({
  values,
  bind,
  editing,
  hasStoredSecret,
}: StepProps & { editing: boolean; hasStoredSecret: boolean }) {
  const nameField = (
    <TextField
      label="Display name"
      hint={`Shown on the login page as “Sign in with ${values.name.trim() || "…"}”.`}
      {...bind("name")}
      required
      maxLength={80}
    />
  );

  if (values.type === "cloudflare-access") {
    return (
      <div className="form-grid">
        {nameField}
        <TextField
          label="Team domain"
          hint="Zero Trust → Settings → Custom Pages, e.g. myteam.cloudflareaccess.com."
          {...bind("teamDomain")}
          placeholder="myteam.cloudflareaccess.com"
          required
          {...VERBATIM}
        />
        <TextField
          label="Application Audience (AUD) Tag"
          hint="Access → Applications → your app → Overview."
          {...bind("audience")}
          required
          {...VERBATIM_MONO}
        />
        <Alert tone="info">
          <p>
            Cloudflare Access needs no client secret: CoPilot verifies the signed JWT Cloudflare adds to each
            request.
          </p>
        </Alert>
      </div>
    );
  }

  return (
    <div className="form-grid">
      {nameField}
      <SelectField
        label="Method of Authentication"
        hint="Locked to OIDC. SAML will be supported in the future."
        value="oidc"
        onChange={() => undefined}
        options={[{ value: "oidc", label: "OIDC" }]}
        disabled
      />
      <TextField
        label="Client ID"
        hint="The identifier issued by your IdP."
        {...bind("clientId")}
        required
        autoComplete="off"
        {...VERBATIM_MONO}
      />
      <TextField
        label="Client Secret"
        type="password"
        hint={
          editing && hasStoredSecret
            ? "Leave blank to keep the current secret."
            : "A secure key generated by your IdP, used by CoPilot to prove its identity."
        }
        placeholder={editing && hasStoredSecret ? UI.secretMask : undefined}
        {...bind("clientSecret")}
        required={!hasStoredSecret}
        autoComplete="new-password"
        spellCheck={false}
      />
      {values.type === "azure" ? (
        <TextField
          label="Directory (tenant) ID"
          hint="From the app registration's Overview page. Sign-ins from other tenants are refused."
          {...bind("azureTenantId")}
          placeholder="00000000-0000-0000-0000-000000000000"
          required
          {...VERBATIM_MONO}
        />
      ) : null}
      {values.type === "google" ? (
        <TextField
          label="Workspace domain"
          optional
          hint="Only accounts of this Google Workspace domain can sign in (the hd claim)."
          {...bind("googleHostedDomain")}
          placeholder="example.com"
          {...VERBATIM}
        />
      ) : null}
    </div>
  );
}

/** URLs are typed exactly, in the monospaced input. */
const URL_INPUT = { ...VERBATIM_MONO, type: "url" } as const;

/** The endpoints entered by hand when there is no config URL. */
const ENDPOINT_FIELDS: FieldSpec<Parameters<Bind>[0]>[] = [
  { key: "issuer", label: "Issuer", required: true },
  { key: "authorizationEndpoint", label: "Authorization URL", required: true },
  { key: "tokenEndpoint", label: "Token Endpoint", required: true },
  { key: "userinfoEndpoint", label: "User Info Endpoint", optional: true },
  { key: "jwksUri", label: "JWKS URI", required: true },
];

function OidcStep({
  values,
  bind,
  set,
  defaultRedirectUrl,
}: StepProps & { set: SetValue; defaultRedirectUrl: string }) {
  const provider = providerByKey(values.provider);
  const redirectEdited = values.redirectUrl.trim() !== "" && values.redirectUrl.trim() !== defaultRedirectUrl;

  return (
    <div className="form-grid">
      {values.type === "google" ? (
        <Alert tone="info">
          <p>Google's endpoints are discovered automatically from https://accounts.google.com.</p>
        </Alert>
      ) : (
        <>
          <ChoiceGroup
            type="radio"
            name="useConfigUrl"
            legend="Use OIDC Config URL"
            hint="Recommended: the config URL supplies every endpoint automatically."
            inline
            value={values.useConfigUrl ? "yes" : "no"}
            onChange={(v) => set("useConfigUrl", v === "yes")}
            options={[
              { value: "yes", label: "Yes" },
              { value: "no", label: "No" },
            ]}
          />
          {values.useConfigUrl ? (
            <TextField
              label="OIDC Config URL"
              hint="Usually https://<your IdP domain>/.well-known/openid-configuration."
              {...bind("discoveryUrl")}
              placeholder={provider.discoveryPlaceholder}
              required
              {...URL_INPUT}
            />
          ) : values.type === "azure" ? (
            <Alert tone="info">
              <p>CoPilot discovers the endpoints from your Directory (tenant) ID.</p>
            </Alert>
          ) : (
            <fieldset className="fieldset fieldset-boxed">
              <legend className="field-label">Endpoints</legend>
              <div className="form-grid">
                {ENDPOINT_FIELDS.map((field) => (
                  <TextField
                    key={field.key}
                    label={field.label}
                    optional={field.optional}
                    {...bind(field.key)}
                    required={field.required}
                    {...URL_INPUT}
                  />
                ))}
              </div>
            </fieldset>
          )}
        </>
      )}
      <TextField
        label="Scopes"
        hint="Separate with spaces. openid is required; profile and email are recommended."
        {...bind("scopes")}
        {...VERBATIM_MONO}
        required
      />
      <TextField
        label="Redirect URL"
        hint="This Redirect URL must be whitelisted in your IdP configuration."
        {...bind("redirectUrl")}
        required
        {...URL_INPUT}
        addon={
          <Button onClick={() => set("redirectUrl", defaultRedirectUrl)} aria-describedby={undefined}>
            Auto-fill
          </Button>
        }
        footer={
          redirectEdited ? (
            <p className="field-warning" role="status">
              {UI.redirectUrlWarning}
            </p>
          ) : null
        }
      />
      <SelectField
        label="Token endpoint auth method"
        hint="How CoPilot sends the client secret to the token endpoint."
        {...bind("tokenEndpointAuthMethod")}
        options={[
          { value: "client_secret_basic", label: "client_secret_basic (default)" },
          { value: "client_secret_post", label: "client_secret_post" },
        ]}
      />
    </div>
  );
}

/** The claims mapped to a CoPilot user, each with its help text. */
const MAPPING_FIELDS: FieldSpec<keyof typeof MAPPING_HELP>[] = [
  { key: "remoteIdField", label: "Remote ID Field", required: true },
  { key: "idField", label: "ID Field", optional: true },
  { key: "emailField", label: "Email Field" },
  { key: "emailVerifiedField", label: "Email Verified Field", required: true },
  { key: "nameField", label: "Name Field", optional: true },
];

function MappingStep({ bind }: { bind: Bind }) {
  return (
    <div className="form-grid">
      <p className="muted">
        Link the user information from your IdP to CoPilot so the same person is recognised in both systems.
      </p>
      {MAPPING_FIELDS.map((field) => (
        <TextField
          key={field.key}
          label={field.label}
          optional={field.optional}
          hint={MAPPING_HELP[field.key]}
          {...bind(field.key)}
          required={field.required}
          {...VERBATIM_MONO}
        />
      ))}
    </div>
  );
}

function ReviewStep({
  values,
  editing,
  hasStoredSecret,
}: {
  values: WizardValues;
  editing: boolean;
  hasStoredSecret: boolean;
}) {
  const secret = values.clientSecret ? "set" : editing && hasStoredSecret ? "keep" : "none";
  return (
    <div className="stack">
      <p className="muted">
        Double-check all entries. After saving, run a test: SSO can be enabled only after a test passes.
      </p>
      <SummaryList rows={summaryRows(toPayload(values), secret)} />
    </div>
  );
}
