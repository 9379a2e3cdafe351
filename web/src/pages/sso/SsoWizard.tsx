import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { ApiError, api, errorMessage } from "../../api.js";
import { Alert } from "../../components/Alert.js";
import { Button } from "../../components/Button.js";
import { Card } from "../../components/Card.js";
import { Collapsible } from "../../components/Collapsible.js";
import { ChoiceGroup, SelectField, TextField } from "../../components/Field.js";
import { Stepper } from "../../components/Stepper.js";
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
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);
  const id = useId();

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

  function chooseProvider(key: ProviderKey) {
    setValues(initialValues(key, defaultRedirectUrl));
    setErrors({});
  }

  function goTo(index: number) {
    setStepIndex(index);
    setReached((r) => Math.max(r, index));
    setFormError(null);
  }

  function next(event?: FormEvent) {
    event?.preventDefault();
    if (!step) {
      goTo(0);
      return;
    }
    if (step.id === "review") {
      void finish();
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

  /** Stepper navigation: backwards freely, forwards only through valid steps. */
  function jumpTo(index: number) {
    if (index < stepIndex) {
      goTo(index);
      return;
    }
    for (let i = stepIndex; i < index; i++) {
      const s = steps[i];
      if (!s || s.id === "review") continue;
      const found = validateStep(s.id, values, hasStoredSecret);
      if (Object.values(found).some(Boolean)) {
        setErrors(found);
        goTo(i);
        focusFirstError();
        return;
      }
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

  async function finish() {
    // Re-check every step before saving; jump to the first one with a problem.
    for (const [index, s] of steps.entries()) {
      if (s.id === "review") continue;
      const found = validateStep(s.id, values, hasStoredSecret);
      if (Object.values(found).some(Boolean)) {
        setErrors(found);
        goTo(index);
        focusFirstError();
        return;
      }
    }
    setSaving(true);
    setFormError(null);
    try {
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
    } catch (cause) {
      setSaving(false);
      if (cause instanceof ApiError && cause.field) {
        const key = normalizeServerField(cause.field);
        const target = stepOfField(key);
        if (target !== "review") {
          setErrors({ [key]: cause.message });
          goTo(steps.findIndex((s) => s.id === target));
          // A field without a control on this form (e.g. one of another type) still shows its message.
          focusFirstError(cause.message);
          return;
        }
      }
      setFormError(errorMessage(cause));
    }
  }

  const title = editing ? "Edit SSO configuration" : "Set up Single Sign-On";
  const formId = `wizard${id}`;

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
      <form id={formId} className="wizard-form" onSubmit={next} noValidate>
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
                set={set}
                errors={errors}
                editing={editing}
                hasStoredSecret={hasStoredSecret}
              />
            ) : step.id === "oidc" ? (
              <OidcStep values={values} set={set} errors={errors} defaultRedirectUrl={defaultRedirectUrl} />
            ) : step.id === "mapping" ? (
              <MappingStep values={values} set={set} errors={errors} />
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
        {formError ? (
          <Alert tone="error" title="The configuration couldn't be saved">
            <p>{formError}</p>
          </Alert>
        ) : null}
        <div className="wizard-actions">
          <Button onClick={onCancel} disabled={saving} variant="ghost">
            Cancel
          </Button>
          <div className="wizard-actions-main">
            {stepIndex > 0 || (stepIndex === 0 && !editing) ? (
              <Button onClick={back} disabled={saving}>
                Back
              </Button>
            ) : null}
            <Button type="submit" variant="primary" loading={saving}>
              {step?.id === "review" ? "Finish" : "Next"}
            </Button>
          </div>
        </div>
      </form>
    </Card>
  );
}

type SetValue = <K extends keyof WizardValues>(key: K, value: WizardValues[K]) => void;

interface StepProps {
  values: WizardValues;
  set: SetValue;
  errors: FieldErrors;
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
  set,
  errors,
  editing,
  hasStoredSecret,
}: StepProps & { editing: boolean; hasStoredSecret: boolean }) {
  const nameField = (
    <TextField
      label="Display name"
      hint={`Shown on the login page as “Sign in with ${values.name.trim() || "…"}”.`}
      value={values.name}
      onChange={(v) => set("name", v)}
      error={errors.name}
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
          value={values.teamDomain}
          onChange={(v) => set("teamDomain", v)}
          error={errors.teamDomain}
          placeholder="myteam.cloudflareaccess.com"
          required
          spellCheck={false}
          autoCapitalize="none"
        />
        <TextField
          label="Application Audience (AUD) Tag"
          hint="Access → Applications → your app → Overview."
          value={values.audience}
          onChange={(v) => set("audience", v)}
          error={errors.audience}
          required
          spellCheck={false}
          autoCapitalize="none"
          className="input-mono"
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
        value={values.clientId}
        onChange={(v) => set("clientId", v)}
        error={errors.clientId}
        required
        spellCheck={false}
        autoCapitalize="none"
        autoComplete="off"
        className="input-mono"
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
        value={values.clientSecret}
        onChange={(v) => set("clientSecret", v)}
        error={errors.clientSecret}
        required={!hasStoredSecret}
        autoComplete="new-password"
        spellCheck={false}
      />
      {values.type === "azure" ? (
        <TextField
          label="Directory (tenant) ID"
          hint="From the app registration's Overview page. Sign-ins from other tenants are refused."
          value={values.azureTenantId}
          onChange={(v) => set("azureTenantId", v)}
          error={errors.azureTenantId}
          placeholder="00000000-0000-0000-0000-000000000000"
          required
          spellCheck={false}
          autoCapitalize="none"
          className="input-mono"
        />
      ) : null}
      {values.type === "google" ? (
        <TextField
          label="Workspace domain"
          optional
          hint="Only accounts of this Google Workspace domain can sign in (the hd claim)."
          value={values.googleHostedDomain}
          onChange={(v) => set("googleHostedDomain", v)}
          error={errors.googleHostedDomain}
          placeholder="example.com"
          spellCheck={false}
          autoCapitalize="none"
        />
      ) : null}
    </div>
  );
}

function OidcStep({ values, set, errors, defaultRedirectUrl }: StepProps & { defaultRedirectUrl: string }) {
  const provider = providerByKey(values.provider);
  const redirectEdited = values.redirectUrl.trim() !== "" && values.redirectUrl.trim() !== defaultRedirectUrl;
  const urlProps = {
    spellCheck: false,
    autoCapitalize: "none",
    className: "input-mono",
    type: "url",
  } as const;

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
              value={values.discoveryUrl}
              onChange={(v) => set("discoveryUrl", v)}
              error={errors.discoveryUrl}
              placeholder={provider.discoveryPlaceholder}
              required
              {...urlProps}
            />
          ) : values.type === "azure" ? (
            <Alert tone="info">
              <p>CoPilot discovers the endpoints from your Directory (tenant) ID.</p>
            </Alert>
          ) : (
            <fieldset className="fieldset fieldset-boxed">
              <legend className="field-label">Endpoints</legend>
              <div className="form-grid">
                <TextField
                  label="Issuer"
                  value={values.issuer}
                  onChange={(v) => set("issuer", v)}
                  error={errors.issuer}
                  required
                  {...urlProps}
                />
                <TextField
                  label="Authorization URL"
                  value={values.authorizationEndpoint}
                  onChange={(v) => set("authorizationEndpoint", v)}
                  error={errors.authorizationEndpoint}
                  required
                  {...urlProps}
                />
                <TextField
                  label="Token Endpoint"
                  value={values.tokenEndpoint}
                  onChange={(v) => set("tokenEndpoint", v)}
                  error={errors.tokenEndpoint}
                  required
                  {...urlProps}
                />
                <TextField
                  label="User Info Endpoint"
                  optional
                  value={values.userinfoEndpoint}
                  onChange={(v) => set("userinfoEndpoint", v)}
                  error={errors.userinfoEndpoint}
                  {...urlProps}
                />
                <TextField
                  label="JWKS URI"
                  value={values.jwksUri}
                  onChange={(v) => set("jwksUri", v)}
                  error={errors.jwksUri}
                  required
                  {...urlProps}
                />
              </div>
            </fieldset>
          )}
        </>
      )}
      <TextField
        label="Scopes"
        hint="Separate with spaces. openid is required; profile and email are recommended."
        value={values.scopes}
        onChange={(v) => set("scopes", v)}
        error={errors.scopes}
        spellCheck={false}
        autoCapitalize="none"
        className="input-mono"
        required
      />
      <TextField
        label="Redirect URL"
        hint="This Redirect URL must be whitelisted in your IdP configuration."
        value={values.redirectUrl}
        onChange={(v) => set("redirectUrl", v)}
        error={errors.redirectUrl}
        required
        {...urlProps}
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
        value={values.tokenEndpointAuthMethod}
        onChange={(v) => set("tokenEndpointAuthMethod", v as WizardValues["tokenEndpointAuthMethod"])}
        error={errors.tokenEndpointAuthMethod}
        options={[
          { value: "client_secret_basic", label: "client_secret_basic (default)" },
          { value: "client_secret_post", label: "client_secret_post" },
        ]}
      />
    </div>
  );
}

function MappingStep({ values, set, errors }: StepProps) {
  const mono = { spellCheck: false, autoCapitalize: "none", className: "input-mono" } as const;
  return (
    <div className="form-grid">
      <p className="muted">
        Link the user information from your IdP to CoPilot so the same person is recognised in both systems.
      </p>
      <TextField
        label="Remote ID Field"
        hint={MAPPING_HELP.remoteIdField}
        value={values.remoteIdField}
        onChange={(v) => set("remoteIdField", v)}
        error={errors["mapping.remoteIdField"]}
        required
        {...mono}
      />
      <TextField
        label="ID Field"
        optional
        hint={MAPPING_HELP.idField}
        value={values.idField}
        onChange={(v) => set("idField", v)}
        error={errors["mapping.idField"]}
        {...mono}
      />
      <TextField
        label="Email Field"
        hint={MAPPING_HELP.emailField}
        value={values.emailField}
        onChange={(v) => set("emailField", v)}
        error={errors["mapping.emailField"]}
        {...mono}
      />
      <TextField
        label="Email Verified Field"
        hint={MAPPING_HELP.emailVerifiedField}
        value={values.emailVerifiedField}
        onChange={(v) => set("emailVerifiedField", v)}
        error={errors["mapping.emailVerifiedField"]}
        required
        {...mono}
      />
      <TextField
        label="Name Field"
        optional
        hint={MAPPING_HELP.nameField}
        value={values.nameField}
        onChange={(v) => set("nameField", v)}
        error={errors["mapping.nameField"]}
        {...mono}
      />
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
