// SPEC §17: the protocol messages of a connection trace keep no secret, token, signature value or
// personal value. The redaction fails closed (only allow-listed protocol fields keep their values),
// fed with real shapes: a real authorization request, callback, token response, ID token and
// user-info answer of the loopback oidc-provider, and a real Cloudflare Access assertion.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REDACTED,
  redactCallback,
  redactCause,
  redactClaims,
  redactHeaders,
  redactJwt,
  redactTokenResponse,
  redactUrl,
  redactValue,
  SIGNATURE_REDACTED,
} from "../../src/sso/trace-redact.js";
import { Browser, signInAtIdp } from "../support/browser.js";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";
import { type Idp, startIdp } from "../support/idp.js";

/** The claims whose values a trace keeps, written out here: widening the list must fail this test. */
// biome-ignore format: one line, the list as it is reviewed
const ALLOWED_CLAIMS = ["iss", "aud", "azp", "exp", "iat", "nbf", "auth_time", "amr", "acr", "tid", "ver", "hd", "type"];

const SUB = "idp-subject-7f3a9c";
const EMAIL = "grace.hopper@acme.test";
const NAME = "Grace Hopper";
const REDIRECT = "http://rp.localhost:4999/login/sso";

/** Fails when `text` holds any of the values (each checked on its own, so the message names it). */
function expectNone(output: unknown, values: Record<string, string>) {
  const text = JSON.stringify(output);
  for (const [label, value] of Object.entries(values)) {
    expect(text.includes(value), `${label} (${value.slice(0, 12)}…) appears in ${text.slice(0, 300)}`).toBe(
      false,
    );
  }
}

describe("trace redaction of a real OIDC flow (oidc-provider on loopback)", () => {
  let idp: Idp;
  const flow = {
    state: randomBytes(32).toString("base64url"),
    nonce: randomBytes(32).toString("base64url"),
    verifier: randomBytes(32).toString("base64url"),
  };
  let authorizationUrl: string;
  let callbackUrl: string;
  let code: string;
  let tokenBody: Record<string, unknown>;
  let tokenHeaders: Record<string, string>;
  let idToken: string;
  let userinfo: Record<string, unknown>;

  beforeAll(async () => {
    idp = await startIdp({
      profile: "generic",
      redirectUris: [REDIRECT],
      accounts: [{ sub: SUB, claims: { email: EMAIL, email_verified: true, name: NAME, locale: "en" } }],
    });
    const url = new URL(idp.endpoints.authorization);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: idp.clientId,
      redirect_uri: REDIRECT,
      scope: "openid profile email",
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: createHash("sha256").update(flow.verifier).digest("base64url"),
      code_challenge_method: "S256",
      login_hint: EMAIL,
    }).toString();
    authorizationUrl = url.href;
    const back = await signInAtIdp(new Browser(), authorizationUrl, SUB, { stopAtCallback: true });
    callbackUrl = back.location!;
    code = new URL(callbackUrl).searchParams.get("code")!;
    const token = await fetch(idp.endpoints.token, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${idp.clientId}:${idp.clientSecret}`).toString("base64")}`,
      },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT,
        code_verifier: flow.verifier,
      }),
    });
    expect(token.status).toBe(200);
    tokenBody = (await token.json()) as Record<string, unknown>;
    tokenHeaders = Object.fromEntries(token.headers);
    idToken = tokenBody.id_token as string;
    const info = await fetch(idp.endpoints.userinfo, {
      headers: { authorization: `Bearer ${tokenBody.access_token as string}` },
    });
    userinfo = (await info.json()) as Record<string, unknown>;
    expect(userinfo.sub).toBe(SUB);
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
  });

  const personal = () => ({ sub: SUB, email: EMAIL, name: NAME });
  const secrets = () => ({
    state: flow.state,
    nonce: flow.nonce,
    code,
    code_challenge: createHash("sha256").update(flow.verifier).digest("base64url"),
    access_token: tokenBody.access_token as string,
    id_token: idToken,
    signature: idToken.split(".")[2]!,
    client_secret: idp.clientSecret,
  });

  it("keeps the authorization request's protocol parameters and redacts state, nonce, PKCE challenge and login hint", () => {
    const out = redactUrl(authorizationUrl, "authorization_request");
    expect(out).toMatchObject({
      url: idp.endpoints.authorization,
      params: {
        response_type: "code",
        client_id: idp.clientId,
        redirect_uri: REDIRECT,
        scope: "openid profile email",
        code_challenge_method: "S256",
        state: `[redacted: ${flow.state.length} chars]`,
        nonce: `[redacted: ${flow.nonce.length} chars]`,
        login_hint: `[redacted: ${EMAIL.length} chars]`,
      },
    });
    expect(Object.keys((out as { params: object }).params).sort()).toEqual(
      [...new URL(authorizationUrl).searchParams.keys()].sort(),
    );
    expectNone(out, { ...personal(), ...secrets() });
  });

  it("keeps the callback's iss and redacts its code and state", () => {
    const out = redactUrl(callbackUrl, "callback");
    const params = (out as { params: Record<string, unknown> }).params;
    expect(params.iss).toBe(idp.issuer);
    expect(params.code).toBe(`[redacted: ${code.length} chars]`);
    expect(params.state).toMatch(/^\[redacted: \d+ chars\]$/);
    expectNone(out, secrets());
    // The same from a path and query, as the callback route sees it.
    const u = new URL(callbackUrl);
    expect(redactCallback(u.origin, u.pathname + u.search)).toEqual(out);
  });

  it("keeps an IdP error and its description in a callback", () => {
    const out = redactUrl(
      `${REDIRECT}?error=access_denied&error_description=User%20cancelled&state=${flow.state}`,
      "callback",
    );
    expect(out).toEqual({
      url: REDIRECT,
      params: {
        error: "access_denied",
        error_description: "User cancelled",
        state: `[redacted: ${flow.state.length} chars]`,
      },
    });
  });

  it("redacts every token of the token response and keeps token_type, expires_in and scope", () => {
    const out = redactTokenResponse(tokenBody) as Record<string, unknown>;
    expect(out.token_type).toBe(tokenBody.token_type);
    expect(out.expires_in).toBe(tokenBody.expires_in);
    expect(out.scope).toBe(tokenBody.scope);
    expect(out.access_token).toMatch(/^\[redacted: \d+ chars\]$/);
    expect(out.id_token).toMatch(/^\[redacted: \d+ chars\]$/);
    expect(Object.keys(out).sort()).toEqual(Object.keys(tokenBody).sort());
    expectNone(out, { ...personal(), ...secrets() });
    expect(
      redactTokenResponse({ error: "invalid_grant", error_description: "grant request is invalid" }),
    ).toEqual({
      error: "invalid_grant",
      error_description: "grant request is invalid",
    });
    expect(redactTokenResponse({ refresh_token: "rt-secret-value" })).toEqual({
      refresh_token: "[redacted: 15 chars]",
    });
  });

  it("keeps the ID token's protocol claims and header, and redacts subject, email, name, nonce and the signature", () => {
    const out = redactJwt(idToken);
    if ("malformed" in out) throw new Error("a real ID token was taken for malformed");
    const [rawHeader, rawPayload] = idToken
      .split(".")
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(out.header).toEqual({
      alg: rawHeader.alg,
      kid: rawHeader.kid,
      ...(rawHeader.typ ? { typ: rawHeader.typ } : {}),
    });
    expect(out.signature).toBe(SIGNATURE_REDACTED);
    expect(out.payload).toMatchObject({
      iss: idp.issuer,
      aud: idp.clientId,
      exp: rawPayload.exp,
      iat: rawPayload.iat,
    });
    for (const claim of ["sub", "email", "name", "nonce"]) {
      expect(out.payload[claim], claim).toMatch(/^\[redacted: \d+ chars\]$/);
    }
    expect(out.payload.email_verified).toBe("[redacted: boolean]");
    // Every claim name is there; only allow-listed values.
    expect(Object.keys(out.payload).sort()).toEqual(Object.keys(rawPayload).sort());
    for (const [claim, value] of Object.entries(out.payload)) {
      if (!ALLOWED_CLAIMS.includes(claim))
        expect(value === null || (typeof value === "string" && value.startsWith("[redacted")), claim).toBe(
          true,
        );
    }
    expectNone(out, { ...personal(), ...secrets() });
  });

  it("keeps the user-info answer's claim names only", () => {
    const out = redactClaims(userinfo) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(Object.keys(userinfo).sort());
    expect(out.sub).toBe(`[redacted: ${SUB.length} chars]`);
    expectNone(out, { ...personal(), locale: '"en"' });
  });

  it("keeps the token response's content type and no other header value", () => {
    const out = redactHeaders({
      status: 200,
      ...tokenHeaders,
      "set-cookie": ["sid=abc123secret; HttpOnly"],
    }) as Record<string, unknown>;
    expect(out.status).toBe(200);
    expect(out["content-type"]).toBe(tokenHeaders["content-type"]);
    expect(out["set-cookie"]).toMatch(/^\[redacted: \d+ chars\]$/);
    expectNone(out, { cookie: "abc123secret" });
    if (tokenHeaders.date) expect(out.date).toMatch(/^\[redacted/);
  });
});

describe("trace redaction of a real Cloudflare Access assertion", () => {
  let cf: FakeCloudflareAccess;
  beforeAll(async () => {
    cf = await startCloudflareAccess({ email: EMAIL });
  });
  afterAll(async () => {
    await cf?.close();
  });

  it("keeps iss, aud, exp, iat, nbf and type; redacts email, sub, identity_nonce, country and the signature", async () => {
    const claims = cf.defaultClaims();
    const token = await cf.sign({ ...claims, custom: { department: "Research", groups: ["eng", "navy"] } });
    const out = redactJwt(token);
    if ("malformed" in out) throw new Error("a real assertion was taken for malformed");
    expect(out.payload).toMatchObject({
      iss: cf.issuer,
      aud: [cf.audTag],
      type: "app",
      exp: claims.exp,
      iat: claims.iat,
      nbf: claims.nbf,
    });
    expect(out.header).toMatchObject({ alg: "RS256", kid: cf.currentKid });
    expect(out.payload.custom).toEqual({
      department: "[redacted: 8 chars]",
      groups: ["[redacted: 3 chars]", "[redacted: 4 chars]"],
    });
    expectNone(out, {
      email: EMAIL,
      sub: String(claims.sub),
      identity_nonce: String(claims.identity_nonce),
      country: `"${String(claims.country)}"`,
      department: "Research",
      group: "navy",
      signature: token.split(".")[2]!,
    });
  });
});

describe("redaction fails closed", () => {
  it("takes anything that is not a JWS of two JSON objects for malformed, never echoing it", () => {
    for (const input of [
      "not a token",
      "a.b",
      "a.b.c.d.e",
      "!!!.???.sig",
      `${Buffer.from("[1,2]").toString("base64url")}.${Buffer.from("{}").toString("base64url")}.x`,
      `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from("not json secret-value").toString("base64url")}.x`,
      42,
      null,
      undefined,
      { alg: "RS256" },
    ]) {
      const out = redactJwt(input);
      expect(out, String(input)).toEqual({ malformed: true });
      expect(JSON.stringify(out)).not.toContain("secret-value");
    }
  });

  it("redacts unknown header parameters of a JWT (jku, x5u, crit, …)", () => {
    const header = Buffer.from(
      JSON.stringify({
        alg: "RS256",
        kid: "k1",
        typ: "JWT",
        jku: "https://evil.example/keys",
        x5c: ["MIIB"],
      }),
    ).toString("base64url");
    const payload = Buffer.from(JSON.stringify({ iss: "https://idp.example", sub: "s-1" })).toString(
      "base64url",
    );
    const out = redactJwt(`${header}.${payload}.c2ln`);
    expect(out).toEqual({
      header: {
        alg: "RS256",
        kid: "k1",
        typ: "JWT",
        jku: "[redacted: 25 chars]",
        x5c: ["[redacted: 4 chars]"],
      },
      payload: { iss: "https://idp.example", sub: "[redacted: 3 chars]" },
      signature: SIGNATURE_REDACTED,
    });
  });

  it("walks nested objects and arrays, redacting every value of an unknown field", () => {
    const out = redactClaims({
      iss: "https://idp.example",
      aud: ["a", "b"],
      amr: ["pwd", "mfa"],
      address: { street_address: "1 Main St", country: "US", geo: { lat: 1.5, lon: 2 } },
      groups: ["admins", "finance"],
      roles: [{ id: 1, name: "Owner" }],
      email_verified: true,
      phone_number: null,
      age: 42,
    });
    expect(out).toEqual({
      iss: "https://idp.example",
      aud: ["a", "b"],
      amr: ["pwd", "mfa"],
      address: {
        street_address: "[redacted: 9 chars]",
        country: "[redacted: 2 chars]",
        geo: { lat: "[redacted: number]", lon: "[redacted: number]" },
      },
      groups: ["[redacted: 6 chars]", "[redacted: 7 chars]"],
      roles: [{ id: "[redacted: number]", name: "[redacted: 5 chars]" }],
      email_verified: "[redacted: boolean]",
      phone_number: null,
      age: "[redacted: number]",
    });
  });

  it("does not keep an object or a list of objects under an allow-listed name", () => {
    const out = redactClaims({ iss: { secret: "inner-value" }, aud: [{ email: "x@y.test" }], exp: "soon" });
    expect(out).toEqual({
      iss: { secret: "[redacted: 11 chars]" },
      aud: [{ email: "[redacted: 8 chars]" }],
      exp: "soon",
    });
  });

  it("redacts the value of an allow-listed name only at the top level (a nested `iss` is data)", () => {
    expect(redactClaims({ custom: { iss: "nested-secret" } })).toEqual({
      custom: { iss: "[redacted: 13 chars]" },
    });
  });

  it("keeps a received __proto__ key as data", () => {
    const out = redactClaims(JSON.parse('{"__proto__": {"polluted": "yes"}, "iss": "x"}')) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":"[redacted: 3 chars]"},"iss":"x"}');
  });

  it("stops walking at a depth limit", () => {
    let deep: Record<string, unknown> = { leaf: "deep-secret" };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const text = JSON.stringify(redactClaims(deep));
    expect(text).not.toContain("deep-secret");
    expect(text).toContain(REDACTED);
  });

  it("redacts unknown URL parameters, drops credentials in the URL, and refuses what is not a URL", () => {
    const out = redactUrl(
      "https://user:pa55word@idp.example/authorize?response_type=code&custom=abc&claims=%7B%7D&state=s1&state=s2#code=frag-code",
      "authorization_request",
    );
    expect(out).toEqual({
      url: "https://idp.example/authorize",
      params: {
        response_type: "code",
        custom: "[redacted: 3 chars]",
        claims: "[redacted: 2 chars]",
        state: ["[redacted: 2 chars]", "[redacted: 2 chars]"],
      },
      fragment: { code: "[redacted: 9 chars]" },
    });
    expect(JSON.stringify(out)).not.toContain("pa55word");
    expect(redactUrl("not a url", "callback")).toEqual({ malformed: true });
  });

  it("keeps the callback's own list: a code, or a scope of an authorization request, is never kept in the other", () => {
    expect(redactUrl("https://rp.example/cb?code=abc&client_id=c1", "callback")).toEqual({
      url: "https://rp.example/cb",
      params: { code: "[redacted: 3 chars]", client_id: "[redacted: 2 chars]" },
    });
  });

  it("cuts long kept values", () => {
    const long = "x".repeat(5000);
    const out = redactUrl(`https://rp.example/cb?error=e&error_description=${long}`, "callback") as {
      params: Record<string, string>;
    };
    expect(out.params.error_description!.length).toBeLessThan(1100);
  });

  it("keeps only the scheme of WWW-Authenticate (its parameters can echo a token or a user)", () => {
    expect(
      redactHeaders({
        "WWW-Authenticate":
          'Bearer realm="acme", error="invalid_token", error_description="token abc.def.ghi expired"',
        "Content-Type": "application/json; charset=utf-8",
        "X-Request-Id": "req-123",
        Status: 401,
      }),
    ).toEqual({
      "www-authenticate": `Bearer ${REDACTED}`,
      "content-type": "application/json; charset=utf-8",
      "x-request-id": "[redacted: 7 chars]",
      status: 401,
    });
    expect(redactHeaders({ "www-authenticate": "Basic" })).toEqual({ "www-authenticate": "Basic" });
  });

  it("answers malformed for inputs that are not objects", () => {
    for (const fn of [redactClaims, redactTokenResponse, redactHeaders]) {
      expect(fn("access_token=secret")).toEqual({ malformed: true });
      expect(fn(["a"])).toEqual({ malformed: true });
      expect(fn(null)).toEqual({ malformed: true });
    }
  });

  it("hints a value's type without the value", () => {
    expect(redactValue("secret")).toBe("[redacted: 6 chars]");
    expect(redactValue(7)).toBe("[redacted: number]");
    expect(redactValue(false)).toBe("[redacted: boolean]");
    expect(redactValue(null)).toBeNull();
  });
});

describe("a trace's cause", () => {
  it("loses email addresses and JWT-shaped text, and keeps the rest", () => {
    expect(redactCause("no user matches Remote ID or stranger.o'neil+sso@acme.co.uk")).toBe(
      "no user matches Remote ID or [redacted email]",
    );
    expect(redactCause("grace@navy.mil is not on the SSO allowed emails list")).toBe(
      "[redacted email] is not on the SSO allowed emails list",
    );
    expect(redactCause("refused eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln here")).toBe(
      "refused [redacted token] here",
    );
    expect(redactCause('the email claim "email" is missing')).toBe('the email claim "email" is missing');
  });
});
