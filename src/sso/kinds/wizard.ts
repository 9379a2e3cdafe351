/**
 * The setup wizard's description of a connection kind (SPEC §7, §9), served to the web UI by
 * `GET /api/admin/sso/kinds`: the steps, their fields (the API field names, labels, hints,
 * which are required), the provider presets with their guides, and the defaults. The web UI
 * renders the wizard, its review and the connection card from it and keeps no field list of its
 * own; the server validates every save again (its 422 names the field, which the UI maps back to
 * the step that shows it).
 *
 * The TypeBox schemas below are the one definition: the types are their `Static`, the route's
 * response schema is `KindDescriptionSchema`, and each property's `description` is also its
 * documentation in /openapi.json.
 *
 * The pieces every kind shares (the display name, the user details mapping step) are built here,
 * so a kind module only writes what is its own.
 */
import { type Static, Type } from "@sinclair/typebox";
import type { ConnectionMapping } from "../../db/schema.js";
import { Nullable, OneOf } from "../../http/schemas.js";

const S = (description?: string) => Type.String(description ? { description } : {});

export const WIZARD_INPUTS = [
  /** A one-line text. */
  "text",
  /** A secret: never shown back; required unless one is stored; sent only when typed. */
  "secret",
  /** An absolute http(s) URL. */
  "url",
  /** The redirect URL: starts as the agency's default, with "Auto-fill" and a warning when edited. */
  "redirect",
  /** A host name: a scheme and trailing slash are stripped, lower-cased. */
  "hostname",
  /** Space-separated OIDC scope names, sent as a list (openid required, offline_access refused). */
  "scopes",
  /** One of `options`. */
  "select",
  /** Shown, not editable, never sent (e.g. the method of authentication); its value is `default`. */
  "fixed",
  /** A comma-separated list of values (which may hold spaces), sent as a list of strings. */
  "list",
] as const;

export const WizardOptionSchema = Type.Object({
  value: S(),
  label: S(),
  summary: Type.Optional(S("The text the review and the connection card show for it (default: `label`)")),
});

/** A row the review and the connection card show that no field holds (e.g. Google's issuer). */
export const WizardFactSchema = Type.Object({
  label: S(),
  value: S(),
  mono: Type.Optional(Type.Boolean()),
});

export const WizardFieldSchema = Type.Object({
  name: S(
    "The API body field; a nested one is `<object>.<name>` (`mapping.emailField`). A `fixed` field's name only identifies it.",
  ),
  label: S(),
  hint: Type.Optional(S("Shown under the control; `{value}` stands for the field's current value (or …)")),
  placeholder: Type.Optional(S()),
  input: OneOf(WIZARD_INPUTS, { description: "The kind of control and its client-side check" }),
  required: Type.Optional(
    Type.Boolean({ description: "Required on save (a `secret`: unless one is stored)" }),
  ),
  requiredUnless: Type.Optional(
    Type.Object(
      { field: S(), message: S() },
      { description: "Required unless the named field holds a value; `message` says so" },
    ),
  ),
  optional: Type.Optional(Type.Boolean({ description: "Shows the Optional tag" })),
  options: Type.Optional(Type.Array(WizardOptionSchema)),
  default: Type.Optional(S("The value a new connection starts with")),
  pattern: Type.Optional(
    Type.Object(
      { source: S("A regular expression the (normalised) value must match"), message: S() },
      { description: "A format check, the server's own pattern (the server checks again)" },
    ),
  ),
  maxLength: Type.Optional(Type.Integer()),
  mono: Type.Optional(
    Type.Boolean({ description: "Typed exactly, in a monospace font (identifiers, URLs)" }),
  ),
  verbatim: Type.Optional(Type.Boolean({ description: "Typed exactly: no spell-check, no capitalisation" })),
  autoComplete: Type.Optional(S()),
  when: Type.Optional(
    S("Shown (and sent) only while the step's choice has this value; otherwise absent from the body"),
  ),
  derive: Type.Optional(
    Type.Object(
      {
        from: S("The field whose value fills this one in"),
        template: S(),
        slot: S("The text in `template` replaced by the other field's trimmed, URL-encoded value"),
      },
      { description: "The value follows another field's until the admin types their own" },
    ),
  ),
  emptySummary: Type.Optional(
    S("What the review and the card show when the field is empty (default: Not set)"),
  ),
  summary: Type.Optional(
    Type.Boolean({ description: "Listed on the review and the connection card (default true)" }),
  ),
});

export const WizardChoiceOptionSchema = Type.Object({
  value: S(),
  label: S(),
  legend: Type.Optional(S("The fields of this option are boxed under this legend")),
  note: Type.Optional(S("An information shown while this option is selected")),
  facts: Type.Optional(
    Type.Array(WizardFactSchema, { description: "Review rows while this option is selected" }),
  ),
});

export const WizardChoiceSchema = Type.Object(
  {
    name: S("A name of the UI's own (not an API field)"),
    label: S(),
    hint: Type.Optional(S()),
    options: Type.Array(WizardChoiceOptionSchema),
    default: S(),
  },
  {
    description:
      "Which alternative group of fields is shown (the fields whose `when` is the selected value). Shown first in its step. For an existing connection, the first option whose fields hold a value is selected, else `default`.",
  },
);

export const WizardStepSchema = Type.Object({
  id: S("Unique within the kind"),
  title: S(),
  intro: Type.Optional(S("A paragraph above the fields")),
  note: Type.Optional(
    Type.Object(
      { text: S(), placement: OneOf(["start", "end"] as const) },
      { description: "An information box before or after the fields" },
    ),
  ),
  choice: Type.Optional(WizardChoiceSchema),
  fields: Type.Array(WizardFieldSchema),
  facts: Type.Optional(
    Type.Array(WizardFactSchema, { description: "Review rows listed before the step's fields" }),
  ),
});

/** A provider the picker offers: a kind with a preset name, guide, placeholders and defaults. */
export const WizardPresetSchema = Type.Object({
  key: S("Unique among every kind's presets"),
  label: S(),
  summary: S(),
  defaultName: S("The pre-filled display name (the button reads “Sign in with <name>”)"),
  guide: Type.Array(S(), { description: "The short setup guide of the product documents" }),
  placeholders: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "Per field name" })),
  defaults: Type.Optional(
    Type.Record(Type.String(), Type.String(), { description: "Field values that differ from the kind's" }),
  ),
  matches: Type.Optional(
    Type.Object(
      { field: S(), contains: S() },
      { description: "A stored connection is this preset when that field contains the text" },
    ),
  ),
});

export const KindWizardSchema = Type.Object({
  label: S("The kind's name on the review and the connection card"),
  steps: Type.Array(WizardStepSchema, { description: "The steps before the UI's own Review & Finish" }),
  presets: Type.Array(WizardPresetSchema, { description: "The first is the kind's default" }),
});

const MappingSchema = Type.Object({
  remoteIdField: S(),
  idField: Nullable(S()),
  emailField: Nullable(S()),
  emailVerifiedField: S(),
  nameField: Nullable(S()),
});

/** What `GET /api/admin/sso/kinds` answers for one kind. */
export const KindDescriptionSchema = Type.Object({
  type: S("The connection type (the API's `type`)"),
  defaultMapping: MappingSchema,
  ...KindWizardSchema.properties,
});

export type WizardInput = (typeof WIZARD_INPUTS)[number];
export type WizardOption = Static<typeof WizardOptionSchema>;
export type WizardFact = Static<typeof WizardFactSchema>;
export type WizardField = Static<typeof WizardFieldSchema>;
export type WizardChoiceOption = Static<typeof WizardChoiceOptionSchema>;
export type WizardChoice = Static<typeof WizardChoiceSchema>;
export type WizardStep = Static<typeof WizardStepSchema>;
export type WizardPreset = Static<typeof WizardPresetSchema>;
export type KindWizard = Static<typeof KindWizardSchema>;
export type KindDescription = Static<typeof KindDescriptionSchema>;

// ── What every kind's description shares ────────────────────────────────────────────────────

/** The display name: the first field of every kind. */
export const DISPLAY_NAME_FIELD: WizardField = {
  name: "name",
  label: "Display name",
  hint: "Shown on the login page as “Sign in with {value}”.",
  input: "text",
  required: true,
  maxLength: 80,
};

/** Help text per mapping field (seed 000, Step 3). */
const MAPPING_HELP = {
  remoteIdField: "The unique user ID from your IdP (e.g. sub in OIDC, oid in Azure).",
  idField: "The CoPilot user ID. Use if you want to map directly to existing CoPilot users.",
  emailField: "The user’s email address field in your IdP (e.g. email, userPrincipalName).",
  emailVerifiedField: "Ensures the email has been validated by your IdP; unverified emails are refused.",
  nameField: "The claim holding the user’s display name (e.g. name).",
} as const satisfies Record<keyof ConnectionMapping, string>;

/** The group fields of the mapping step (SPEC §13), every kind alike; `groupsHint` per kind. */
export function groupFields(groupsHint?: string): WizardField[] {
  return [
    {
      name: "groupsField",
      label: "Groups Field",
      hint:
        groupsHint ??
        "The claim or attribute holding the user’s groups (e.g. groups). Map groups to a role and sub-accounts in Group mappings, after saving.",
      input: "text",
      mono: true,
      optional: true,
      maxLength: 512,
    },
    {
      name: "allowedGroups",
      label: "Allowed Groups",
      hint: "Only members of one of these groups (comma-separated ids or names, exact match) may sign in. Empty: no restriction.",
      input: "list",
      optional: true,
    },
  ];
}

/** "User Details Mapping" (SPEC §3), starting from the kind's default mapping. */
export function mappingStep(defaults: ConnectionMapping, groupsHint?: string): WizardStep {
  const field = (
    key: keyof ConnectionMapping,
    label: string,
    rule: Pick<WizardField, "required" | "optional" | "requiredUnless">,
  ): WizardField => ({
    name: `mapping.${key}`,
    label,
    hint: MAPPING_HELP[key],
    input: "text",
    mono: true,
    default: defaults[key] ?? "",
    ...rule,
  });
  return {
    id: "mapping",
    title: "User Details Mapping",
    intro:
      "Link the user information from your IdP to CoPilot so the same person is recognised in both systems.",
    fields: [
      field("remoteIdField", "Remote ID Field", { required: true }),
      field("idField", "ID Field", { optional: true }),
      field("emailField", "Email Field", {
        requiredUnless: {
          field: "mapping.idField",
          message: "Email Field is required unless an ID Field is set.",
        },
      }),
      field("emailVerifiedField", "Email Verified Field", { required: true }),
      field("nameField", "Name Field", { optional: true }),
      ...groupFields(groupsHint),
    ],
  };
}
