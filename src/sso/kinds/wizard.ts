/**
 * The setup wizard's description of a connection kind (SPEC §7, §9), served to the web UI by
 * `GET /api/admin/sso/kinds`: the steps, their fields (the API field names, labels, hints,
 * which are required), the provider presets with their guides, and the default mapping. The web
 * UI renders the wizard, its review and the connection card from it and keeps no field list of
 * its own; the server validates every save again (its 422 names the field, which the UI maps
 * back to the step that shows it).
 */
import type { ConnectionMapping, ConnectionType } from "../../db/schema.js";

export type WizardInput =
  /** A one-line text. */
  | "text"
  /** A secret: never shown back; required unless one is stored. */
  | "secret"
  /** An absolute https URL. */
  | "url"
  /** A host name (a scheme and trailing slash are stripped). */
  | "hostname"
  /** Space-separated scope names, sent as a list. */
  | "scopes"
  /** One of `options`. */
  | "select"
  /** Shown, not editable (e.g. the method of authentication). */
  | "fixed";

export interface WizardField {
  /** The API body field; a mapping field is `mapping.<name>`. */
  name: string;
  label: string;
  hint?: string;
  placeholder?: string;
  input: WizardInput;
  /** Required on save (for `secret`: unless a secret is stored). */
  required?: boolean;
  options?: { value: string; label: string }[];
  /** The value a new connection starts with (the redirect URL is filled in by the UI). */
  default?: string;
  /** Shown in a monospace font (identifiers, URLs). */
  mono?: boolean;
  /**
   * Shown (and sent) only while the step's `choice` has this value; otherwise sent as absent.
   */
  when?: string;
  /**
   * The field's value follows another field's until the admin types their own: `{field}` in the
   * template is replaced by that field's value (Azure: the metadata URL from the tenant).
   */
  derive?: { from: string; template: string };
  /** Listed on the review step and the connection card (default true). */
  summary?: boolean;
}

export interface WizardChoice {
  /** A name of the UI's own (not an API field): which alternative group of fields is shown. */
  name: string;
  label: string;
  hint?: string;
  options: { value: string; label: string }[];
  default: string;
  /** For an existing connection: the option whose `when` fields hold a value is selected. */
}

export interface WizardStep {
  id: string;
  title: string;
  /** One paragraph shown above the fields. */
  intro?: string;
  choice?: WizardChoice;
  fields: WizardField[];
}

/** A provider the picker offers: a kind with a preset name, guide and mapping. */
export interface WizardPreset {
  key: string;
  label: string;
  summary: string;
  /** The pre-filled display name ("Sign in with <name>"). */
  defaultName: string;
  /** The short setup guide of the product documents. */
  guide: string[];
  /** Field defaults and placeholders that differ from the kind's (`discoveryUrl` placeholder…). */
  placeholders?: Record<string, string>;
  /** How a stored connection is recognised as this preset (a discovery URL containing this text). */
  matches?: string;
  mapping?: Partial<ConnectionMapping>;
}

export interface KindWizard {
  label: string;
  /** "OIDC", "Cloudflare Access", "SAML": shown on the card and the review. */
  method: string;
  steps: WizardStep[];
  presets: WizardPreset[];
  /** Help text per mapping field, shown under the mapping inputs. */
  mappingHelp: Partial<Record<keyof ConnectionMapping, string>>;
}

/** What `GET /api/admin/sso/kinds` answers for one kind. */
export interface KindDescription extends KindWizard {
  type: ConnectionType;
  defaultMapping: ConnectionMapping;
}
