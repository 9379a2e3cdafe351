// Issue 15: a failed code exchange is classified by openid-client's / oauth4webapi's error
// classes and codes (and what they attach), never by their message text. Every error below is
// produced by the library itself: the authorization response checks run in openid-client, and the
// token endpoint is a real HTTP peer on loopback answering what each case needs.
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSafeFetch } from "../../src/net/safe-fetch.js";
import { classifyExchangeError, fetchUserinfo, type Provider, SsoStepError } from "../../src/sso/oidc.js";
import { b64json } from "../support/jwt.js";
import { type LoopbackServer, startLoopbackServer } from "../support/loopback-server.js";

const CLIENT_ID = "the-client";
const STATE = "the-state-0123456789";
const NONCE = "the-nonce-0123456789";
const VERIFIER = "the-code-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
const REDIRECT = "http://127.0.0.1:9/login/sso";

/** What the loopback token endpoint answers next. */
let answer: { status: number; headers?: Record<string, string>; body: string } = { status: 500, body: "" };
let server: LoopbackServer;
let issuer: string;

function configuration(options: { issParameter?: boolean; safeFetch?: boolean } = {}): client.Configuration {
  const config = new client.Configuration(
    {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      userinfo_endpoint: `${issuer}/userinfo`,
      ...(options.issParameter ? { authorization_response_iss_parameter_supported: true } : {}),
    },
    CLIENT_ID,
    "the-client-secret",
  );
  client.allowInsecureRequests(config);
  if (options.safeFetch) {
    // The SSRF guard with private addresses refused: the loopback IdP is out of bounds.
    (config as unknown as Record<symbol, unknown>)[client.customFetch] = createSafeFetch({
      allowPrivate: false,
    });
  }
  return config;
}

/** Runs openid-client's code grant on this callback query and returns our classification of its error. */
async function classify(
  query: string,
  options: Parameters<typeof configuration>[0] = {},
): Promise<SsoStepError> {
  const currentUrl = new URL(REDIRECT);
  currentUrl.search = query;
  try {
    await client.authorizationCodeGrant(
      configuration(options),
      currentUrl,
      { pkceCodeVerifier: VERIFIER, expectedNonce: NONCE, expectedState: STATE, idTokenExpected: true },
      { redirect_uri: REDIRECT },
    );
  } catch (err) {
    return classifyExchangeError(err, { issuer, state: STATE });
  }
  throw new Error("the code grant succeeded");
}

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  answer = {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

/** An ID token as the IdP would send it (openid-client checks its claims, not its signature). */
function idToken(patch: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer,
    aud: CLIENT_ID,
    sub: "user-1",
    iat: now,
    exp: now + 300,
    nonce: NONCE,
    ...patch,
  };
  return `${b64json({ alg: "RS256", kid: "k1" })}.${b64json(claims)}.c2lnbmF0dXJl`;
}

function tokens(extra: Record<string, unknown>) {
  json(200, { access_token: "the-access-token", token_type: "Bearer", expires_in: 300, ...extra });
}

beforeAll(async () => {
  server = await startLoopbackServer((_req, res) => {
    res.writeHead(answer.status, answer.headers ?? {});
    res.end(answer.body);
  });
  issuer = server.origin;
});
afterAll(async () => {
  await server?.close();
});

const code = `code=the-code&state=${STATE}`;

describe("classifyExchangeError", () => {
  it("an error redirect (AuthorizationResponseError): callback, with the IdP's error", async () => {
    const e = await classify(`error=access_denied&error_description=User+cancelled&state=${STATE}`);
    expect(e).toMatchObject({
      step: "callback",
      cause: "the IdP returned an error instead of a code",
      idpError: "access_denied: User cancelled",
    });
  });

  it("a wrong RFC 9207 iss (OAUTH_INVALID_RESPONSE over the parameters, expected the issuer): callback, iss", async () => {
    const e = await classify(`${code}&iss=${encodeURIComponent("https://evil.example")}`, {
      issParameter: true,
    });
    expect(e.step).toBe("callback");
    expect(e.cause).toMatch(/^the authorization response's iss is wrong/);
  });

  it("a missing iss the IdP advertises (no expected value): callback, iss", async () => {
    const e = await classify(code, { issParameter: true });
    expect(e.step).toBe("callback");
    expect(e.cause).toMatch(/^the authorization response's iss is wrong/);
  });

  it("a wrong or missing state (expected the state): callback, state", async () => {
    const wrong = await classify("code=the-code&state=another-state");
    expect(wrong.step).toBe("callback");
    expect(wrong.cause).toMatch(/^the authorization response's state is wrong/);
    const missing = await classify("code=the-code");
    expect(missing.cause).toMatch(/^the authorization response's state is wrong/);
  });

  it("an OAuth error body from the token endpoint (ResponseBodyError): token, with the IdP's error", async () => {
    json(400, { error: "invalid_grant", error_description: "code expired" });
    expect(await classify(code)).toMatchObject({
      step: "token",
      cause: "the token endpoint refused the code (HTTP 400)",
      idpError: "invalid_grant: code expired",
    });
  });

  it("a WWW-Authenticate challenge (WWWAuthenticateChallengeError): token, with the challenge's error", async () => {
    json(
      401,
      { error: "invalid_client" },
      { "www-authenticate": 'Basic realm="idp", error="invalid_client"' },
    );
    const e = await classify(code);
    expect(e).toMatchObject({ step: "token", idpError: "invalid_client" });
    expect(e.cause).toMatch(/^the token endpoint refused the client \(HTTP 401, a basic challenge\)$/i);
  });

  it("a non-conforming answer (OAUTH_RESPONSE_IS_NOT_CONFORM): token", async () => {
    answer = { status: 502, headers: { "content-type": "text/html" }, body: "<h1>Bad gateway</h1>" };
    const e = await classify(code);
    expect(e.step).toBe("token");
    expect(e.cause).toMatch(/^the code exchange failed: /);
  });

  it("a token response without an ID token (OAUTH_INVALID_RESPONSE over the body): token", async () => {
    tokens({});
    expect(await classify(code)).toMatchObject({
      step: "token",
      cause: "the token response has no id_token",
    });
  });

  it("an ID token for another audience (OAUTH_JWT_CLAIM_COMPARISON_FAILED): id_token", async () => {
    tokens({ id_token: idToken({ aud: "another-client" }) });
    const e = await classify(code);
    expect(e.step).toBe("id_token");
    expect(e.cause).toMatch(/^the ID token was refused: .*"aud"/);
  });

  it("an ID token with another nonce (OAUTH_JWT_CLAIM_COMPARISON_FAILED): id_token", async () => {
    tokens({ id_token: idToken({ nonce: "another-nonce" }) });
    expect((await classify(code)).step).toBe("id_token");
  });

  it("an expired ID token (OAUTH_JWT_TIMESTAMP_CHECK_FAILED): id_token", async () => {
    const now = Math.floor(Date.now() / 1000);
    tokens({ id_token: idToken({ iat: now - 7200, exp: now - 3600 }) });
    const e = await classify(code);
    expect(e.step).toBe("id_token");
    expect(e.cause).toMatch(/exp/);
  });

  it("an ID token with a claim of the wrong type (OAUTH_INVALID_RESPONSE over the claims): id_token", async () => {
    tokens({ id_token: idToken({ iat: "yesterday" }) });
    expect((await classify(code)).step).toBe("id_token");
  });

  it("an ID token that is no JWT (OAUTH_INVALID_RESPONSE over the compact form): id_token", async () => {
    tokens({ id_token: "not-a-jwt" });
    expect((await classify(code)).step).toBe("id_token");
  });

  it("an ID token with an algorithm the IdP does not use (OAUTH_INVALID_RESPONSE over the header): id_token", async () => {
    const claims = { iss: issuer, aud: CLIENT_ID, sub: "u", iat: 1, exp: 2, nonce: NONCE };
    tokens({ id_token: `${b64json({ alg: "none" })}.${b64json(claims)}.` });
    const e = await classify(code);
    expect(e.step).toBe("id_token");
    expect(e.cause).toMatch(/alg/);
  });

  it("a request the SSRF guard refuses (a SafeFetchError cause): token", async () => {
    tokens({ id_token: idToken() });
    const e = await classify(code, { safeFetch: true });
    expect(e.step).toBe("token");
    expect(e.cause).toMatch(/^the code exchange failed: /);
  });
});

describe("fetchUserinfo's failures", () => {
  const provider = (): Provider => ({
    config: configuration(),
    issuer,
    jwksUri: `${issuer}/jwks`,
    userinfoEndpoint: `${issuer}/userinfo`,
    algorithms: ["RS256"],
    requiredClaims: [],
    authorizationParams: {},
  });
  async function userinfoError(): Promise<SsoStepError> {
    try {
      await fetchUserinfo(provider(), "the-access-token", "user-1");
    } catch (err) {
      if (err instanceof SsoStepError) return err;
      throw err;
    }
    throw new Error("the user-info call succeeded");
  }

  it("passes the IdP's claims for the ID token's sub", async () => {
    json(200, { sub: "user-1", email: "a@example.test" });
    expect(await fetchUserinfo(provider(), "the-access-token", "user-1")).toMatchObject({
      email: "a@example.test",
    });
  });

  it("another sub (OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED on sub): userinfo, naming no one", async () => {
    json(200, { sub: "user-2", email: "someone-else@example.test" });
    const e = await userinfoError();
    expect(e).toMatchObject({ step: "userinfo", cause: "the user-info sub is not the ID token's sub" });
    expect(JSON.stringify(e)).not.toContain("someone-else");
  });

  it("a refused access token (WWWAuthenticateChallengeError): userinfo, with the challenge's error", async () => {
    json(401, {}, { "www-authenticate": 'Bearer error="invalid_token", error_description="expired"' });
    const e = await userinfoError();
    expect(e).toMatchObject({ step: "userinfo", idpError: "invalid_token: expired" });
    expect(e.cause).toMatch(
      /^the user-info endpoint refused the access token \(HTTP 401, a bearer challenge\)$/i,
    );
  });

  it("a broken endpoint (OAUTH_RESPONSE_IS_NOT_CONFORM): userinfo", async () => {
    json(500, { error: "server_error" });
    const e = await userinfoError();
    expect(e.step).toBe("userinfo");
    expect(e.cause).toMatch(/^the user-info call failed: /);
  });
});
