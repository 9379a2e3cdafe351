// The web wizard's model (web/src/pages/sso/model.ts) works from the server's description alone:
// for a kind the web UI has never seen (made up here) it builds the values, follows a derived
// field, checks each step, builds the request body, maps a server 422 to the step that shows the
// field and lists the review rows. And for the real kinds, a body built from their description is
// one the server takes, and every field a server 422 names is placed on a step.
import { describe, expect, it } from "vitest";
import { kindDescriptions, normalizeConnection } from "../../src/sso/kinds/index.js";
import { DISPLAY_NAME_FIELD, type KindDescription, mappingStep } from "../../src/sso/kinds/wizard.js";
import {
  activeFields,
  connectionSummary,
  firstInvalidStep,
  initialValues,
  normalizeServerField,
  placeOfField,
  providerByKey,
  providerForConnection,
  providers,
  setValue,
  summaryRows,
  toRequestBody,
  validateStep,
  valuesFromConnection,
} from "../../web/src/pages/sso/model.js";

/** A kind no web code knows: a SAML-like connection with a metadata URL or typed-in endpoints. */
const SAML_LIKE: KindDescription = {
  type: "saml-like",
  label: "SAML-like",
  defaultMapping: {
    remoteIdField: "nameId",
    idField: null,
    emailField: "mail",
    emailVerifiedField: "mail",
    nameField: null,
  },
  steps: [
    {
      id: "idp",
      title: "Identity provider",
      choice: {
        name: "source",
        label: "Use the metadata URL",
        options: [
          { value: "url", label: "Yes" },
          {
            value: "manual",
            label: "No",
            legend: "Endpoints",
            facts: [{ label: "Metadata", value: "Typed in" }],
          },
        ],
        default: "url",
      },
      fields: [
        DISPLAY_NAME_FIELD,
        { name: "tenant", label: "Tenant", input: "text", required: true, mono: true },
        {
          name: "metadataUrl",
          label: "Metadata URL",
          input: "url",
          required: true,
          when: "url",
          derive: { from: "tenant", template: "https://idp.example/SLOT/metadata", slot: "SLOT" },
        },
        { name: "ssoUrl", label: "SSO URL", input: "url", required: true, when: "manual" },
        { name: "signingKey", label: "Signing key", input: "secret", required: true },
        {
          name: "domain",
          label: "Domain",
          input: "hostname",
          optional: true,
          pattern: { source: "^[a-z0-9.-]+\\.[a-z]{2,}$", message: "Enter a domain such as corp.example." },
          emptySummary: "Any domain",
        },
        {
          name: "binding",
          label: "Binding",
          input: "select",
          options: [
            { value: "post", label: "HTTP-POST (default)", summary: "HTTP-POST" },
            { value: "redirect", label: "HTTP-Redirect" },
          ],
          default: "post",
        },
        {
          name: "protocol",
          label: "Protocol",
          input: "fixed",
          options: [{ value: "saml", label: "SAML" }],
          default: "saml",
        },
        { name: "acsUrl", label: "ACS URL", input: "redirect", required: true },
      ],
    },
    mappingStep({
      remoteIdField: "nameId",
      idField: null,
      emailField: "mail",
      emailVerifiedField: "mail",
      nameField: null,
    }),
  ],
  presets: [
    { key: "plain", label: "Plain", summary: "Any.", defaultName: "SAML", guide: ["Do this."] },
    {
      key: "corp",
      label: "Corp IdP",
      summary: "Corp.",
      defaultName: "Corp",
      guide: ["Do that."],
      placeholders: { metadataUrl: "https://corp.example/metadata" },
      defaults: { "mapping.nameField": "displayName" },
      matches: { field: "metadataUrl", contains: "corp.example" },
    },
  ],
};

const REDIRECT = "https://login.acme.test/login/sso";
const kinds = [SAML_LIKE];
const step0 = SAML_LIKE.steps[0]!;
const mapping = SAML_LIKE.steps[1]!;

describe("the wizard model, from a description alone (a kind the web UI has never seen)", () => {
  it("offers the presets and starts from the field defaults, the preset's name and defaults", () => {
    expect(providers(kinds).map((p) => p.preset.key)).toEqual(["plain", "corp"]);
    const corp = providerByKey(kinds, "corp")!;
    const values = initialValues(corp, REDIRECT);
    expect(values).toMatchObject({
      name: "Corp",
      source: "url",
      binding: "post",
      acsUrl: REDIRECT,
      tenant: "",
      "mapping.remoteIdField": "nameId",
      "mapping.emailField": "mail",
      "mapping.nameField": "displayName",
    });
    expect(providerByKey(kinds, "unknown")?.preset.key).toBe("plain");
  });

  it("derives a field from another until the admin types their own", () => {
    const provider = providerByKey(kinds, "plain")!;
    let values = initialValues(provider, REDIRECT);
    values = setValue(SAML_LIKE, values, "tenant", "acme");
    expect(values.metadataUrl).toBe("https://idp.example/acme/metadata");
    values = setValue(SAML_LIKE, values, "tenant", "acme corp");
    expect(values.metadataUrl).toBe("https://idp.example/acme%20corp/metadata");
    values = setValue(SAML_LIKE, values, "metadataUrl", "https://mine.example/md");
    values = setValue(SAML_LIKE, values, "tenant", "other");
    expect(values.metadataUrl).toBe("https://mine.example/md");
  });

  it("checks the shown fields of a step by their input kind and rules", () => {
    const values = initialValues(providerByKey(kinds, "plain")!, REDIRECT);
    expect(validateStep(step0, { ...values, name: " " }, false)).toEqual({
      name: "Display name is required.",
      tenant: "Tenant is required.",
      metadataUrl: "Metadata URL is required.",
      signingKey: "Signing key is required.",
    });
    // A stored secret may stay; a malformed URL, domain or option is named.
    expect(
      validateStep(
        step0,
        { ...values, tenant: "t", metadataUrl: "not a url", domain: "https://No Domain/", binding: "soap" },
        true,
      ),
    ).toEqual({
      metadataUrl: "Metadata URL must be a full URL starting with https://.",
      domain: "Enter a domain such as corp.example.",
      binding: "Choose a Binding.",
    });
    // The other choice shows (and checks) its own fields only.
    const manual = { ...values, source: "manual", tenant: "t", signingKey: "k" };
    expect(validateStep(step0, manual, false)).toEqual({ ssoUrl: "SSO URL is required." });
    expect(validateStep(step0, { ...manual, ssoUrl: "https://idp.example/sso" }, false)).toEqual({});
    // "Required unless": the email claim may be empty only with an ID claim.
    const noEmail = { ...values, "mapping.emailField": "" };
    expect(validateStep(mapping, noEmail, false)).toEqual({
      "mapping.emailField": "Email Field is required unless an ID Field is set.",
    });
    expect(validateStep(mapping, { ...noEmail, "mapping.idField": "uid" }, false)).toEqual({});
    expect(firstInvalidStep(SAML_LIKE.steps, noEmail, false)?.index).toBe(0);
    expect(firstInvalidStep(SAML_LIKE.steps, noEmail, false, 1)?.index).toBe(1);
  });

  it("builds the body: the current choice's fields only, nested mapping, no fixed field, secret only when typed", () => {
    let values = initialValues(providerByKey(kinds, "plain")!, REDIRECT);
    values = setValue(SAML_LIKE, values, "tenant", " acme ");
    values = { ...values, name: " SAML ", domain: "HTTPS://Corp.Example/", signingKey: "s3cret" };
    expect(toRequestBody(SAML_LIKE, values)).toEqual({
      type: "saml-like",
      name: "SAML",
      tenant: "acme",
      metadataUrl: "https://idp.example/acme/metadata",
      signingKey: "s3cret",
      domain: "corp.example",
      binding: "post",
      acsUrl: REDIRECT,
      mapping: {
        remoteIdField: "nameId",
        idField: null,
        emailField: "mail",
        emailVerifiedField: "mail",
        nameField: null,
      },
    });
    const manual = toRequestBody(SAML_LIKE, {
      ...values,
      source: "manual",
      ssoUrl: "https://idp.example/sso",
      signingKey: "",
      domain: "",
    });
    expect(manual).not.toHaveProperty("metadataUrl");
    expect(manual).not.toHaveProperty("signingKey");
    expect(manual).not.toHaveProperty("domain");
    expect(manual).not.toHaveProperty("protocol");
    expect(manual).toMatchObject({ ssoUrl: "https://idp.example/sso" });
  });

  it("maps a server 422 field to the step (and choice) that shows it", () => {
    expect(normalizeServerField("/mapping/emailField")).toBe("mapping.emailField");
    expect(normalizeServerField("body.signingKey")).toBe("signingKey");
    expect(placeOfField(SAML_LIKE, normalizeServerField("/mapping/emailField"))).toEqual({
      stepIndex: 1,
      field: "mapping.emailField",
    });
    expect(placeOfField(SAML_LIKE, "mapping")).toEqual({ stepIndex: 1, field: "mapping.remoteIdField" });
    expect(placeOfField(SAML_LIKE, "ssoUrl")).toEqual({
      stepIndex: 0,
      field: "ssoUrl",
      choice: { name: "source", value: "manual" },
    });
    expect(placeOfField(SAML_LIKE, "type")).toBeNull();
    expect(placeOfField(SAML_LIKE, "protocol")).toBeNull();
  });

  it("reads a saved connection back: its preset, its choice, no secret; the review rows mask the secret", () => {
    const saved = {
      type: "saml-like",
      name: "Corp",
      tenant: "acme",
      metadataUrl: null,
      ssoUrl: "https://corp.example/sso",
      domain: null,
      binding: "redirect",
      acsUrl: null,
      signingKey: "never sent back, but if it were",
      hasSecret: true,
      mapping: {
        remoteIdField: "nameId",
        idField: null,
        emailField: "mail",
        emailVerifiedField: "mail",
        nameField: null,
      },
    };
    const provider = providerForConnection(SAML_LIKE, saved);
    expect(provider.preset.key).toBe("plain");
    expect(
      providerForConnection(SAML_LIKE, { ...saved, metadataUrl: "https://CORP.example/metadata" }).preset.key,
    ).toBe("corp");
    const values = valuesFromConnection(provider, saved, REDIRECT);
    expect(values).toMatchObject({
      source: "manual",
      signingKey: "",
      acsUrl: REDIRECT,
      "mapping.nameField": "",
    });
    expect(activeFields(step0, values).map((f) => f.name)).toEqual([
      "ssoUrl",
      "name",
      "tenant",
      "signingKey",
      "domain",
      "binding",
      "protocol",
      "acsUrl",
    ]);
    const rows = summaryRows(SAML_LIKE, values, "keep");
    expect(rows.slice(0, 11)).toEqual([
      { label: "Provider", value: "SAML-like" },
      { label: "Metadata", value: "Typed in" },
      { label: "SSO URL", value: "https://corp.example/sso" },
      { label: "Display name", value: "Corp" },
      { label: "Tenant", value: "acme", mono: true },
      { label: "Signing key", value: "•••••••• (unchanged)" },
      { label: "Domain", value: "Any domain" },
      { label: "Binding", value: "HTTP-Redirect" },
      { label: "Protocol", value: "SAML" },
      { label: "ACS URL", value: REDIRECT },
      { label: "Remote ID Field", value: "nameId", mono: true },
    ]);
    const card = connectionSummary(SAML_LIKE, saved);
    expect(card.find((r) => r.label === "Signing key")?.value).toBe("••••••••");
    expect(card.find((r) => r.label === "ACS URL")?.value).toBeNull();
    expect(JSON.stringify(card)).not.toContain("never sent back");
  });
});

describe("the wizard model on the server's real kinds", () => {
  const real = kindDescriptions();
  /** What an admin types into each required field (by name: the test's knowledge, not the UI's). */
  const typed: Record<string, string> = {
    clientId: "client-1",
    clientSecret: "secret-1",
    discoveryUrl: "https://idp.example.com/.well-known/openid-configuration",
    azureTenantId: "6d3c6b0e-4f2a-4c8e-9a51-2b7f0c1d9e84",
    teamDomain: "https://MyTeam.cloudflareaccess.com/",
    audience: "aud-123",
    samlMetadataUrl: "https://idp.example.com/saml/metadata",
  };

  it.each(
    real.map((k) => [k.type, k] as const),
  )("%s: a body built from the description is one the server takes", (_type, kind) => {
    for (const { preset } of providers([kind])) {
      let values = initialValues(providerByKey([kind], preset.key)!, REDIRECT);
      for (const step of kind.steps) {
        for (const field of activeFields(step, values)) {
          const value = typed[field.name];
          if (value !== undefined) values = setValue(kind, values, field.name, value);
        }
      }
      expect(firstInvalidStep(kind.steps, values, false)).toBeNull();
      const body = toRequestBody(kind, values);
      const { value } = normalizeConnection(body as never, {
        allowHttp: false,
        defaultRedirectUrl: REDIRECT,
      });
      expect(value.type).toBe(kind.type);
      expect(value.name).toBe(preset.defaultName);
      // The kind's default mapping, with what the preset sets differently (SAML: the email attribute).
      const presetMapping = Object.fromEntries(
        Object.entries(preset.defaults ?? {})
          .filter(([k]) => k.startsWith("mapping."))
          .map(([k, v]) => [k.slice("mapping.".length), v]),
      );
      expect(value.mapping).toEqual({ ...kind.defaultMapping, ...presetMapping });
    }
  });

  it.each(
    real.map((k) => [k.type, k] as const),
  )("%s: every field the server names in a 422 for a missing value is on a step", (_type, kind) => {
    let values = initialValues(providerByKey([kind], kind.presets[0]!.key)!, REDIRECT);
    for (const [name, value] of Object.entries(typed)) values = setValue(kind, values, name, value);
    const body = toRequestBody(kind, values);
    const named: string[] = [];
    for (const key of Object.keys(body).filter((k) => k !== "type")) {
      const { [key]: _dropped, ...rest } = body;
      try {
        normalizeConnection(rest as never, { allowHttp: false, defaultRedirectUrl: REDIRECT });
      } catch (err) {
        const field = (err as { field?: string }).field;
        if (field) named.push(field);
      }
    }
    expect(named.length).toBeGreaterThan(0);
    for (const field of named) expect(placeOfField(kind, normalizeServerField(field)), field).not.toBeNull();
  });

  it.each(
    real.map((k) => [k.type, k] as const),
  )("%s: the Groups Field and Allowed Groups (a comma-separated list, names with spaces) reach the server and come back", (_type, kind) => {
    let values = initialValues(providerByKey([kind], kind.presets[0]!.key)!, REDIRECT);
    for (const [name, value] of Object.entries(typed)) values = setValue(kind, values, name, value);
    values = setValue(kind, values, "groupsField", "groups");
    values = setValue(kind, values, "allowedGroups", " CoPilot Admins , Team North,, ");
    const body = toRequestBody(kind, values);
    expect(body.allowedGroups).toEqual(["CoPilot Admins", "Team North"]);
    const { value } = normalizeConnection(body as never, { allowHttp: false, defaultRedirectUrl: REDIRECT });
    expect(value.groups_field).toBe("groups");
    expect(value.allowed_groups).toEqual(["CoPilot Admins", "Team North"]);
    const back = valuesFromConnection(
      providerByKey([kind], kind.presets[0]!.key)!,
      { ...body, groupsField: "groups", allowedGroups: value.allowed_groups } as never,
      REDIRECT,
    );
    expect(back.allowedGroups).toBe("CoPilot Admins, Team North");
    // Emptied: absent from the body, no restriction on the server.
    const cleared = toRequestBody(kind, setValue(kind, values, "allowedGroups", " "));
    expect(cleared.allowedGroups).toBeUndefined();
  });

  it("OIDC scopes: openid is required, offline_access refused (the server's rules, said before saving)", () => {
    const oidc = real.find((k) => k.type === "oidc")!;
    const step = oidc.steps.find((s) => s.fields.some((f) => f.input === "scopes"))!;
    const values = initialValues(providerByKey([oidc], "oidc")!, REDIRECT);
    expect(validateStep(step, { ...values, scopes: "" }, false).scopes).toBe("Scopes must include openid.");
    expect(validateStep(step, { ...values, scopes: "openid offline_access" }, false).scopes).toBe(
      "offline_access is not supported.",
    );
    expect(validateStep(step, values, false).scopes).toBeUndefined();
  });

  it("Azure's discovery URL follows the tenant; Google's review names its issuer", () => {
    const azure = real.find((k) => k.type === "azure")!;
    const values = setValue(
      azure,
      initialValues(providerByKey([azure], "azure")!, REDIRECT),
      "azureTenantId",
      "t1",
    );
    expect(values.discoveryUrl).toBe(
      "https://login.microsoftonline.com/t1/v2.0/.well-known/openid-configuration",
    );
    const google = real.find((k) => k.type === "google")!;
    const rows = summaryRows(google, initialValues(providerByKey([google], "google")!, REDIRECT), "none");
    expect(rows).toContainEqual({ label: "Issuer", value: "https://accounts.google.com", mono: true });
    expect(rows).toContainEqual({ label: "Workspace domain", value: "Any Google account" });
    expect(rows).toContainEqual({ label: "Client Secret", value: "Not set" });
  });
});
