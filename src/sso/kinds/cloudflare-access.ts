/**
 * The `cloudflare-access` kind (SPEC §5): CoPilot behind Cloudflare Zero Trust. There is no
 * redirect to an IdP: Cloudflare adds a signed assertion to every request, so a flow "starts" by
 * sending the browser to /login/sso/cloudflare (behind Access) and completes by verifying the
 * assertion that request carries (sso/cloudflare.ts).
 */
import type { AppContext } from "../../context.js";
import { badRequest } from "../../http/errors.js";
import {
  ASSERTION_COOKIE,
  CloudflareAssertionError,
  teamEndpoints,
  verifyAccessAssertion,
} from "../cloudflare.js";
import { type Assertion, readAssertion } from "../cloudflare-session.js";
import { GROUP_FIELDS, HOSTNAME, requiredText } from "./fields.js";
import type { CompleteInput, Completion, ConnectionKind, StartInput } from "./kind.js";
import { DISPLAY_NAME_FIELD, type KindWizard, mappingStep } from "./wizard.js";

export const CLOUDFLARE_LOGIN_PATH = "/login/sso/cloudflare";

function describeSource(assertion: Assertion | null): string {
  if (!assertion)
    return "no assertion arrived (neither a Cf-Access-Jwt-Assertion header nor a CF_Authorization cookie)";
  return assertion.source === "header"
    ? "an assertion arrived in the Cf-Access-Jwt-Assertion header"
    : "an assertion arrived in the CF_Authorization cookie";
}

/** SPEC §7 "Start test": the test is the real sign-in, run by the admin's own browser behind Access. */
async function start(_ctx: AppContext, { flow }: StartInput): Promise<string> {
  if (flow.purpose === "test") return `${CLOUDFLARE_LOGIN_PATH}?test=${encodeURIComponent(flow.testId)}`;
  return flow.returnTo
    ? `${CLOUDFLARE_LOGIN_PATH}?returnTo=${encodeURIComponent(flow.returnTo)}`
    : CLOUDFLARE_LOGIN_PATH;
}

/** SPEC §5: the assertion of this request, every check of sso/cloudflare.ts. */
async function complete(ctx: AppContext, { request, row }: CompleteInput): Promise<Completion> {
  const assertion = readAssertion(request);
  if (!assertion) {
    return {
      ok: false,
      failure: {
        step: "assertion",
        cause: describeSource(null),
        details: { check: "missing", assertionReceived: false },
      },
      messages: [],
    };
  }
  const messages: Completion["messages"] = [
    {
      name: "cloudflare_assertion",
      at: ctx.now().toISOString(),
      data: { source: assertion.source, jwt: assertion.token },
    },
  ];
  let claims: Record<string, unknown>;
  try {
    claims = await verifyAccessAssertion(ctx, row, assertion.token);
  } catch (err) {
    const e =
      err instanceof CloudflareAssertionError
        ? err
        : new CloudflareAssertionError(
            "signature",
            `the assertion could not be verified (${err instanceof Error ? err.name : "unknown error"})`,
          );
    return {
      ok: false,
      failure: {
        step: "assertion",
        cause: `${describeSource(assertion)}; the ${e.check} check failed: ${e.detail}`,
        details: { check: e.check, assertionReceived: true },
        ...(e.claimNames.length > 0 ? { claimNames: e.claimNames } : {}),
      },
      messages,
    };
  }
  if (!row.groups_field) return { ok: true, claims, messages };
  // SPEC §13: the groups are not in the assertion but in the identity endpoint, asked with the
  // person's own assertion — only when the connection maps groups, through the SSRF guard.
  const identity = await fetchIdentity(ctx, row, assertion.token);
  if (!identity.ok) {
    return {
      ok: false,
      failure: {
        step: "groups",
        cause: identity.cause,
        claimNames: Object.keys(claims).sort(),
        details: { check: "get_identity" },
      },
      messages,
    };
  }
  return { ok: true, claims: { ...claims, [row.groups_field]: identity.groups }, messages };
}

/** `https://<team domain>/cdn-cgi/access/get-identity`: the person's groups under `groups_field`. */
async function fetchIdentity(
  ctx: AppContext,
  row: CompleteInput["row"],
  token: string,
): Promise<{ ok: true; groups: unknown } | { ok: false; cause: string }> {
  const url = `${teamEndpoints(ctx, row).issuer}/cdn-cgi/access/get-identity`;
  let res: Response;
  try {
    res = await ctx.idpFetch(url, {
      headers: { accept: "application/json", cookie: `${ASSERTION_COOKIE}=${token}` },
    });
  } catch (err) {
    return {
      ok: false,
      cause: `the identity endpoint ${url} is unreachable (${err instanceof Error ? err.message : "error"})`,
    };
  }
  if (!res.ok) {
    await res.body?.cancel();
    return { ok: false, cause: `the identity endpoint ${url} answered ${res.status}` };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { ok: false, cause: `the identity endpoint ${url} did not answer JSON` };
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, cause: `the identity endpoint ${url} did not answer an identity` };
  }
  return { ok: true, groups: (body as Record<string, unknown>)[row.groups_field ?? "groups"] };
}

export const cloudflareAccessKind: ConnectionKind = {
  type: "cloudflare-access",
  method: "cloudflare",
  usesClientSecret: false,
  failureCode: "cloudflare_failed",
  fields: ["teamDomain", "audience", "mapping", ...GROUP_FIELDS],
  defaultMapping: {
    remoteIdField: "sub",
    idField: null,
    emailField: "email",
    emailVerifiedField: "email",
    nameField: null,
  },
  normalize(input, base, opts) {
    const warnings: string[] = [];
    const team = requiredText(input.teamDomain, "teamDomain", 253)
      .toLowerCase()
      .replace(/^https?:\/\//, "")
      .replace(/\/+$/, "");
    if (!HOSTNAME.test(team))
      throw badRequest("teamDomain must be a hostname such as myteam.cloudflareaccess.com", "teamDomain");
    const isLoopback = /^(127\.\d+\.\d+\.\d+|localhost)(:\d+)?$/.test(team);
    if (/:\d+$/.test(team) && !(opts.allowHttp && isLoopback)) {
      throw badRequest("teamDomain must be a hostname without a port", "teamDomain");
    }
    if (!team.endsWith(".cloudflareaccess.com")) {
      warnings.push(
        `The team domain ${team} is not a *.cloudflareaccess.com domain: check it in Cloudflare Zero Trust → Settings → Custom Pages.`,
      );
    }
    const audience = requiredText(input.audience, "audience", 200);
    if (!/^[A-Za-z0-9._-]+$/.test(audience))
      throw badRequest("audience must be the Application Audience (AUD) tag", "audience");
    return { value: { ...base, team_domain: team, audience }, warnings };
  },
  start,
  complete,
  get wizard() {
    return wizard;
  },
};

// ── The setup wizard's description (GET /api/admin/sso/kinds) ─────────────────────────────────
const wizard: KindWizard = {
  label: "Cloudflare Access",
  steps: [
    {
      id: "credentials",
      title: "Team domain & Audience",
      fields: [
        DISPLAY_NAME_FIELD,
        {
          name: "teamDomain",
          label: "Team domain",
          hint: "Zero Trust → Settings → Custom Pages, e.g. myteam.cloudflareaccess.com.",
          placeholder: "myteam.cloudflareaccess.com",
          input: "hostname",
          required: true,
          verbatim: true,
          pattern: {
            source: HOSTNAME.source,
            message: "Enter a domain such as myteam.cloudflareaccess.com.",
          },
        },
        {
          name: "audience",
          label: "Application Audience (AUD) Tag",
          hint: "Access → Applications → your app → Overview.",
          input: "text",
          required: true,
          mono: true,
        },
      ],
      note: {
        text: "Cloudflare Access needs no client secret: CoPilot verifies the signed JWT Cloudflare adds to each request.",
        placement: "end",
      },
    },
    mappingStep(
      cloudflareAccessKind.defaultMapping,
      "groups: CoPilot then reads the user’s groups from your team domain’s identity endpoint (/cdn-cgi/access/get-identity) at each sign-in.",
    ),
  ],
  presets: [
    {
      key: "cloudflare",
      label: "Cloudflare Access",
      summary: "CoPilot behind Cloudflare Zero Trust.",
      defaultName: "Cloudflare Access",
      guide: [
        "Cloudflare Zero Trust → Access → Applications → Add an application → Self-hosted.",
        "Set the domain to your CoPilot URL and connect your identity provider.",
        "Open the app → Overview → copy the Application Audience (AUD) Tag.",
        "Settings → Custom Pages → copy your team domain (e.g. myteam.cloudflareaccess.com).",
        "There is no client secret: Cloudflare signs a JWT on every request.",
      ],
    },
  ],
};
