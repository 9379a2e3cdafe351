/**
 * The setup wizard's model: pure functions over the server's description of the connection
 * kinds (`GET /api/admin/sso/kinds`, src/sso/kinds/wizard.ts). Nothing here knows a kind, a field
 * or a provider by name: the steps, fields, choices, derived values, presets, checks, the request
 * body, the review rows and the connection card's summary all come from the description, so a new
 * kind needs no change here (test/unit/wizard-model.test.ts proves it with a kind made up there).
 */
import type {
  KindDescription,
  WizardChoice,
  WizardField,
  WizardPreset,
  WizardStep,
} from "../../../../src/sso/kinds/wizard.js";
import { UI } from "../../messages.js";

export type { KindDescription, WizardField, WizardStep };

/**
 * What the wizard edits: a string per API field name (`mapping.emailField` for a nested one) and
 * per choice name (the UI's own, e.g. `useConfigUrl`). Converted to the API shape on save.
 */
export type WizardValues = Record<string, string>;

/** A message per field name. */
export type FieldErrors = Partial<Record<string, string>>;

/** A provider of the picker: a preset of a kind. */
export interface Provider {
  kind: KindDescription;
  preset: WizardPreset;
}

/** The wizard's step after the kind's own: the review (the UI's own). */
export const REVIEW_STEP = { id: "review", title: "Review & Finish" } as const;

/** Every preset of every kind, in the kinds' order (the provider picker). */
export function providers(kinds: readonly KindDescription[]): Provider[] {
  return kinds.flatMap((kind) => kind.presets.map((preset) => ({ kind, preset })));
}

/** The provider of a preset key (the first one when the key is unknown). */
export function providerByKey(kinds: readonly KindDescription[], key: string): Provider | undefined {
  const all = providers(kinds);
  return all.find((p) => p.preset.key === key) ?? all[0];
}

export function kindOf(kinds: readonly KindDescription[], type: string): KindDescription | undefined {
  return kinds.find((k) => k.type === type);
}

/** A saved connection, as the API sends it: read by field name. */
export type ConnectionLike = { type: string } & Record<string, unknown>;

/** The value at a field name (`mapping.emailField` reads `connection.mapping.emailField`). */
function readPath(source: Record<string, unknown>, name: string): unknown {
  let value: unknown = source;
  for (const part of name.split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Every field of a kind, with its step. */
function allFields(kind: KindDescription): { step: WizardStep; field: WizardField }[] {
  return kind.steps.flatMap((step) => step.fields.map((field) => ({ step, field })));
}

/** The preset a saved connection matches (`matches`), else its kind's first. */
export function providerForConnection(kind: KindDescription, connection: ConnectionLike): Provider {
  const fallback: WizardPreset = {
    key: kind.type,
    label: kind.label,
    summary: "",
    defaultName: "",
    guide: [],
  };
  const preset =
    kind.presets.find((p) => {
      if (!p.matches) return false;
      const value = readPath(connection, p.matches.field);
      return typeof value === "string" && value.toLowerCase().includes(p.matches.contains.toLowerCase());
    }) ??
    kind.presets[0] ??
    fallback;
  return { kind, preset };
}

/** The review rows of a saved connection (the card's "SSO Configuration"), from its kind's description. */
export function connectionSummary(
  kind: KindDescription,
  connection: ConnectionLike & { hasSecret?: boolean },
): SummaryRow[] {
  const values = valuesFromConnection(providerForConnection(kind, connection), connection, "");
  return summaryRows(kind, values, connection.hasSecret ? "set" : "none");
}

/** The values a new connection of this preset starts with. */
export function initialValues(provider: Provider, defaultRedirectUrl: string): WizardValues {
  const values: WizardValues = {};
  for (const step of provider.kind.steps) {
    if (step.choice) values[step.choice.name] = step.choice.default;
    for (const field of step.fields) {
      values[field.name] = field.input === "redirect" ? defaultRedirectUrl : (field.default ?? "");
    }
  }
  values.name = provider.preset.defaultName;
  return { ...values, ...provider.preset.defaults };
}

/** The values of a saved connection (a secret is never sent back: it starts empty). */
export function valuesFromConnection(
  provider: Provider,
  connection: ConnectionLike,
  defaultRedirectUrl: string,
): WizardValues {
  const values = initialValues(provider, defaultRedirectUrl);
  for (const { field } of allFields(provider.kind)) {
    if (field.input === "secret" || field.input === "fixed") continue;
    const stored = readPath(connection, field.name);
    if (Array.isArray(stored)) values[field.name] = stored.join(field.input === "list" ? ", " : " ");
    else if (typeof stored === "string") values[field.name] = stored;
    else if (stored === null) values[field.name] = field.input === "redirect" ? defaultRedirectUrl : "";
  }
  for (const step of provider.kind.steps) {
    if (!step.choice) continue;
    const held = step.choice.options.find((option) =>
      step.fields.some((f) => f.when === option.value && (values[f.name] ?? "").trim() !== ""),
    );
    values[step.choice.name] = held?.value ?? step.choice.default;
  }
  return values;
}

/** The field is shown (and sent) under the step's current choice. */
function isActive(step: WizardStep, field: WizardField, values: WizardValues): boolean {
  return field.when === undefined || (step.choice !== undefined && values[step.choice.name] === field.when);
}

/** The step's shown fields in the order they are shown: the choice's first, then the others. */
export function activeFields(step: WizardStep, values: WizardValues): WizardField[] {
  const shown = step.fields.filter((f) => isActive(step, f, values));
  return [...shown.filter((f) => f.when !== undefined), ...shown.filter((f) => f.when === undefined)];
}

function derived(field: WizardField, source: string): string {
  if (!field.derive) return "";
  const value = source.trim();
  return value ? field.derive.template.split(field.derive.slot).join(encodeURIComponent(value)) : "";
}

/**
 * Sets one value, and the fields derived from it that still hold what was derived (or nothing):
 * once the admin types their own value, it stays.
 */
export function setValue(
  kind: KindDescription,
  values: WizardValues,
  name: string,
  value: string,
): WizardValues {
  const next = { ...values, [name]: value };
  for (const { field } of allFields(kind)) {
    if (field.derive?.from !== name) continue;
    const current = values[field.name] ?? "";
    if (!current || current === derived(field, values[name] ?? "")) next[field.name] = derived(field, value);
  }
  return next;
}

/** A host name as the server takes it: no scheme, no trailing slash, lower case. */
function bareHost(value: string): string {
  return value
    .trim()
    .replace(/^https?:\/\//i, "")
    .replace(/\/+$/, "")
    .toLowerCase();
}

export function parseScopes(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A comma-separated list (values may hold spaces), as the server takes it. */
export function parseList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value.trim());
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** The label with the field's value in its hint (`{value}`). */
export function fieldHint(field: WizardField, values: WizardValues): string | undefined {
  return field.hint?.split("{value}").join((values[field.name] ?? "").trim() || "…");
}

/** Client-side checks of one step's shown fields; the server validates again and its field errors win. */
export function validateStep(step: WizardStep, values: WizardValues, hasStoredSecret: boolean): FieldErrors {
  const errors: FieldErrors = {};
  for (const field of activeFields(step, values)) {
    const message = fieldProblem(field, values, hasStoredSecret);
    if (message) errors[field.name] = message;
  }
  return errors;
}

function fieldProblem(field: WizardField, values: WizardValues, hasStoredSecret: boolean): string | null {
  const raw = values[field.name] ?? "";
  const value = raw.trim();
  if (field.input === "fixed") return null;
  // Scopes say what they lack (openid) rather than "required".
  if (!value && field.input !== "scopes") {
    if (field.required && !(field.input === "secret" && hasStoredSecret))
      return `${field.label} is required.`;
    if (field.requiredUnless && !(values[field.requiredUnless.field] ?? "").trim()) {
      return field.requiredUnless.message;
    }
    return null;
  }
  switch (field.input) {
    case "url":
    case "redirect":
      if (!isHttpUrl(value)) return `${field.label} must be a full URL starting with https://.`;
      break;
    case "scopes": {
      const scopes = parseScopes(value);
      if (!scopes.includes("openid")) return "Scopes must include openid.";
      if (scopes.includes("offline_access")) return "offline_access is not supported.";
      break;
    }
    case "select":
      if (field.options && !field.options.some((o) => o.value === raw)) return `Choose a ${field.label}.`;
      break;
  }
  const checked = field.input === "hostname" ? bareHost(value) : value;
  if (field.pattern && !new RegExp(field.pattern.source).test(checked)) return field.pattern.message;
  if (field.maxLength && value.length > field.maxLength) {
    return `${field.label} is too long (at most ${field.maxLength} characters).`;
  }
  return null;
}

/** The steps (of the kind) whose shown fields have problems, first to last. */
export function firstInvalidStep(
  steps: readonly WizardStep[],
  values: WizardValues,
  hasStoredSecret: boolean,
  from = 0,
  to = steps.length,
): { index: number; errors: FieldErrors } | null {
  for (let index = from; index < Math.min(to, steps.length); index++) {
    const step = steps[index];
    if (!step) continue;
    const errors = validateStep(step, values, hasStoredSecret);
    if (Object.values(errors).some(Boolean)) return { index, errors };
  }
  return null;
}

/** The value a field sends: a list for scopes, a bare host, trimmed text; null when empty. */
function sentValue(field: WizardField, raw: string): string | string[] | null {
  const value = field.input === "hostname" ? bareHost(raw) : raw.trim();
  if (field.input === "scopes") return parseScopes(value);
  if (field.input === "list") {
    const list = parseList(value);
    return list.length > 0 ? list : null;
  }
  if (field.input === "secret") return raw === "" ? null : raw;
  return value === "" ? null : value;
}

/**
 * The body of POST/PUT …/connections: `type`, and the fields shown under the current choices.
 * A top-level field left empty is absent (as are the fields of other kinds and of other choices);
 * a nested one is null (so a cleared mapping field does not fall back to its default); a secret is
 * sent only when typed.
 */
export function toRequestBody(kind: KindDescription, values: WizardValues): Record<string, unknown> {
  const body: Record<string, unknown> = { type: kind.type };
  for (const step of kind.steps) {
    for (const field of activeFields(step, values)) {
      if (field.input === "fixed") continue;
      const value = sentValue(field, values[field.name] ?? "");
      const [head, ...rest] = field.name.split(".");
      if (!head) continue;
      if (rest.length === 0) {
        if (value !== null) body[head] = value;
        continue;
      }
      const nested = (body[head] ?? {}) as Record<string, unknown>;
      nested[rest.join(".")] = value;
      body[head] = nested;
    }
  }
  return body;
}

/** A server `error.field` (`mapping.remoteIdField`, `/mapping/remoteIdField`, `body.scopes`…) as a field name. */
export function normalizeServerField(field: string): string {
  return field
    .replace(/^\/+/, "")
    .split(/[./]/)
    .filter((part) => part && part !== "body" && !/^\d+$/.test(part))
    .join(".");
}

/**
 * Where a server field error is shown: the step with that field (or, for a nested object such as
 * `mapping`, its first field) and the choice value that shows it. Null when no step shows it.
 */
export function placeOfField(
  kind: KindDescription,
  name: string,
): { stepIndex: number; field: string; choice?: { name: string; value: string } } | null {
  for (const [stepIndex, step] of kind.steps.entries()) {
    const field =
      step.fields.find((f) => f.name === name) ?? step.fields.find((f) => f.name.startsWith(`${name}.`));
    if (!field || field.input === "fixed") continue;
    const choice: WizardChoice | undefined = step.choice;
    return {
      stepIndex,
      field: field.name,
      ...(field.when !== undefined && choice ? { choice: { name: choice.name, value: field.when } } : {}),
    };
  }
  return null;
}

export interface SummaryRow {
  label: string;
  value: string | null;
  mono?: boolean;
}

/** How the secret of a connection stands: typed now, kept from before, or none. */
export type SecretState = "set" | "keep" | "none";

/** The secret's state on the review: a typed secret is set; else a stored one is kept. */
export function secretState(
  kind: KindDescription,
  values: WizardValues,
  hasStoredSecret: boolean,
): SecretState {
  const typed = kind.steps.some((s) =>
    s.fields.some((f) => f.input === "secret" && (values[f.name] ?? "") !== ""),
  );
  return typed ? "set" : hasStoredSecret ? "keep" : "none";
}

function summaryValue(field: WizardField, values: WizardValues, secret: SecretState): string | null {
  const value = (values[field.name] ?? "").trim();
  switch (field.input) {
    case "secret":
      return secret === "set"
        ? UI.secretMask
        : secret === "keep"
          ? `${UI.secretMask} (unchanged)`
          : "Not set";
    case "select":
    case "fixed": {
      const option = field.options?.find((o) => o.value === (value || field.default));
      return option ? (option.summary ?? option.label) : value || null;
    }
    case "scopes":
      return parseScopes(value).join(" ") || null;
    case "list":
      return parseList(value).join(", ") || field.emptySummary || null;
    case "hostname":
      return bareHost(value) || field.emptySummary || null;
    default:
      return value || field.emptySummary || null;
  }
}

/** Rows describing a connection, shared by the review step and the saved connection's card. */
export function summaryRows(kind: KindDescription, values: WizardValues, secret: SecretState): SummaryRow[] {
  const rows: SummaryRow[] = [{ label: "Provider", value: kind.label }];
  for (const step of kind.steps) {
    const option = step.choice?.options.find((o) => o.value === values[step.choice?.name ?? ""]);
    for (const fact of [...(step.facts ?? []), ...(option?.facts ?? [])]) {
      rows.push({ label: fact.label, value: fact.value, ...(fact.mono ? { mono: true } : {}) });
    }
    for (const field of activeFields(step, values)) {
      if (field.summary === false) continue;
      rows.push({
        label: field.label,
        value: summaryValue(field, values, secret),
        ...(field.mono ? { mono: true } : {}),
      });
    }
  }
  return rows;
}
