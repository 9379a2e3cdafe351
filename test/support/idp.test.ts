/**
 * Self-tests of the test IdP harness, with openid-client v6 as the relying party (no CoPilot code).
 */
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { compactVerify, createRemoteJWKSet, importJWK, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, describe, expect, it } from "vitest";
import { Browser, type BrowserResponse, parseForms, signInAtIdp } from "./browser.js";
import {
  DEFAULT_AZURE_TENANT_ID,
  decodeJwtParts,
  generateSigningJwk,
  hs256WithPublicKey,
  type Idp,
  type IdpOptions,
  type IdpProfile,
  resignWith,
  startIdp,
  withAlgNone,
  withBadSignature,
} from "./idp.js";

const REDIRECT_URI = "http://acme.localhost:3999/login/sso";

const open: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(open.map((x) => x.close()));
});

async function idpFor(options: IdpOptions): Promise<Idp> {
  const idp = await startIdp({ redirectUris: [REDIRECT_URI], ...options });
  open.push(idp);
  return idp;
}

function newBrowser(): Browser {
  const browser = new Browser();
  open.push(browser);
  return browser;
}

async function discover(idp: Idp, server: string = idp.issuer): Promise<client.Configuration> {
  const auth =
    idp.tokenEndpointAuthMethod === "client_secret_post"
      ? client.ClientSecretPost(idp.clientSecret)
      : client.ClientSecretBasic(idp.clientSecret);
  return client.discovery(
    new URL(server),
    idp.clientId,
    { client_secret: idp.clientSecret, id_token_signed_response_alg: idp.idTokenSignedResponseAlg },
    auth,
    { execute: [client.allowInsecureRequests] },
  );
}

interface Flow {
  url: string;
  verifier: string;
  state: string;
  nonce: string;
}

async function startFlow(config: client.Configuration, extra: Record<string, string> = {}): Promise<Flow> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...extra,
  });
  return { url: url.href, verifier, state, nonce };
}

function finish(config: client.Configuration, flow: Flow, callback: BrowserResponse) {
  expect(callback.location, "IdP redirect to the callback").toBeDefined();
  return client.authorizationCodeGrant(config, new URL(callback.location!), {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
}

/** Discovery, authorization with PKCE + nonce + state, login at the IdP, code exchange. */
async function signIn(idp: Idp, login: string, browser = newBrowser(), config?: client.Configuration) {
  const cfg = config ?? (await discover(idp));
  const flow = await startFlow(cfg);
  const callback = await signInAtIdp(browser, flow.url, login, { stopAtCallback: true });
  const tokens = await finish(cfg, flow, callback);
  return { config: cfg, flow, callback, tokens, claims: tokens.claims()!, idToken: tokens.id_token! };
}

/** An error's message plus its causes' messages. */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(" <- ");
}

describe.each<IdpProfile>(["generic", "azure", "okta", "auth0", "google"])("profile %s", (profile) => {
  it("signs in end to end with openid-client", async () => {
    const idp = await idpFor({ profile });
    const account = idp.accounts[0]!;
    const { claims, callback, config, tokens } = await signIn(idp, account.sub);

    const location = new URL(callback.location!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get("iss")).toBe(idp.issuer); // RFC 9207
    expect(claims.iss).toBe(idp.issuer);
    expect(claims.aud).toBe(idp.clientId);
    expect(claims.sub).toBe(account.sub);
    expect(decodeJwtParts(tokens.id_token!).header.kid).toBe(idp.currentKid);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, account.sub);
    for (const [name, value] of Object.entries(account.claims)) {
      expect(claims[name], `id_token ${name}`).toEqual(value);
      expect(userinfo[name], `userinfo ${name}`).toEqual(value);
    }

    switch (profile) {
      case "azure":
        expect(idp.issuer).toBe(`${idp.origin}/${DEFAULT_AZURE_TENANT_ID}/v2.0`);
        expect(claims.tid).toBe(DEFAULT_AZURE_TENANT_ID);
        expect(claims.oid).toEqual(expect.any(String));
        expect(claims.preferred_username).toEqual(expect.any(String));
        expect(claims).not.toHaveProperty("email_verified");
        break;
      case "auth0":
        expect(idp.issuer).toBe(`${idp.origin}/`);
        expect(idp.discoveryUrl).toBe(`${idp.origin}/.well-known/openid-configuration`);
        expect(claims.email_verified).toBe(true);
        break;
      case "google":
        expect(idp.issuer).toBe(idp.origin);
        expect(claims.hd).toEqual(expect.any(String));
        expect(claims.email_verified).toBe(true);
        break;
      default:
        expect(idp.issuer).toBe(idp.origin);
        expect(claims.email).toEqual(expect.any(String));
        expect(claims.email_verified).toBe(true);
        expect(claims.name).toEqual(expect.any(String));
    }
  });
});

describe("test IdP", () => {
  it("serves a plain HTML login form and logs in by email; wrong passwords are refused", async () => {
    const idp = await idpFor({
      accounts: [
        { sub: "u1", claims: { email: "Bob@Acme.example", email_verified: true }, password: "s3cret" },
      ],
    });
    const config = await discover(idp);
    const browser = newBrowser();

    const flow = await startFlow(config);
    const formPage = await browser.follow(flow.url);
    expect(formPage.status).toBe(200);
    expect(formPage.header("content-type")).toMatch(/text\/html/);
    expect(formPage.body).toMatch(/^<!DOCTYPE html>/);
    expect(formPage.body).toContain('<button type="submit">Sign in</button>');
    const [form] = parseForms(formPage.body, formPage.url);
    expect(form?.method).toBe("post");
    expect(Object.keys(form?.fields ?? {})).toEqual(["login", "password"]);

    const wrong = await browser.submitForm(formPage, { login: "bob@acme.example", password: "nope" });
    expect(wrong.status).toBe(200);
    expect(wrong.body).toContain("Invalid login or password.");

    await expect(
      signInAtIdp(newBrowser(), (await startFlow(config)).url, "bob@acme.example", { password: "bad" }),
    ).rejects.toThrow(/Invalid login or password/);

    const ok = await signInAtIdp(browser, flow.url, "BOB@acme.example", {
      password: "s3cret",
      stopAtCallback: true,
    });
    const tokens = await finish(config, flow, ok);
    expect(tokens.claims()?.sub).toBe("u1");
  });

  it("keeps an IdP session per browser and reflects claim changes between sign-ins", async () => {
    const idp = await idpFor({ profile: "okta" });
    const sub = idp.accounts[0]!.sub;
    const browserA = newBrowser();
    const first = await signIn(idp, sub, browserA);
    expect(first.claims.email).toBe("alice@acme.example");

    idp.patchClaims(sub, { email: "alice.new@acme.example", department: "R&D" });
    // same browser: the IdP session answers without a login form
    const flow = await startFlow(first.config);
    const redirect = await browserA.follow(flow.url, { stopBefore: (u) => u.href.startsWith(REDIRECT_URI) });
    expect(redirect.chain.some((u) => u.includes("/interaction/"))).toBe(false);
    const second = await finish(first.config, flow, redirect);
    expect(second.claims()?.email).toBe("alice.new@acme.example");
    expect(second.claims()?.department).toBe("R&D"); // a brand-new claim name is supported too

    // another browser has its own jar: it gets the login form
    const browserB = newBrowser();
    const page = await browserB.follow((await startFlow(first.config)).url);
    expect(page.url).toContain("/interaction/");
    expect(browserB.jar.all().map((c) => c.name)).not.toContain(`_session_${idp.port}`);
    expect(browserA.jar.all().map((c) => c.name)).toContain(`_session_${idp.port}`);

    idp.setClaims(sub, { email: "only@acme.example" });
    const third = await signIn(idp, "only@acme.example");
    expect(third.claims.email).toBe("only@acme.example");
    expect(third.claims).not.toHaveProperty("email_verified");
  });

  it("supports client_secret_post and ES256 ID tokens", async () => {
    const idp = await idpFor({
      tokenEndpointAuthMethod: "client_secret_post",
      idTokenSignedResponseAlg: "ES256",
    });
    const { idToken, claims } = await signIn(idp, idp.accounts[0]!.sub);
    expect(decodeJwtParts(idToken).header.alg).toBe("ES256");
    expect(claims.sub).toBe(idp.accounts[0]!.sub);

    // the registered method is enforced: basic auth is refused
    const basic = await client.discovery(
      new URL(idp.issuer),
      idp.clientId,
      { id_token_signed_response_alg: "ES256" },
      client.ClientSecretBasic(idp.clientSecret),
      { execute: [client.allowInsecureRequests] },
    );
    const flow = await startFlow(basic);
    const callback = await signInAtIdp(newBrowser(), flow.url, idp.accounts[0]!.sub, {
      stopAtCallback: true,
    });
    await expect(finish(basic, flow, callback)).rejects.toMatchObject({ error: "invalid_client" });
  });

  it("requires PKCE", async () => {
    const idp = await idpFor({});
    const config = await discover(idp);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: "openid",
      state: "s",
      nonce: "n",
    });
    const res = await newBrowser().follow(url.href, { stopBefore: (u) => u.href.startsWith(REDIRECT_URI) });
    const location = new URL(res.location!);
    expect(location.searchParams.get("error")).toBe("invalid_request");
    expect(location.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  it("rotates signing keys: new kid, and a relying party's cached JWKS misses it", async () => {
    const idp = await idpFor({});
    const sub = idp.accounts[0]!.sub;
    const first = await signIn(idp, sub);
    const oldKid = decodeJwtParts(first.idToken).header.kid;
    // openid-client skips signature checks on token-endpoint ID tokens: verify with jose like a real RP
    const cachedJwks = createRemoteJWKSet(new URL(idp.endpoints.jwks), { cooldownDuration: 60_000 });
    await jwtVerify(first.idToken, cachedJwks, { issuer: idp.issuer, audience: idp.clientId });
    const fetchesBefore = idp.jwksFetches;

    const newKid = await idp.rotateKeys();
    expect(newKid).not.toBe(oldKid);
    expect(idp.currentKid).toBe(newKid);
    expect(idp.publicJwks().keys.map((k) => k.kid)).not.toContain(oldKid);

    const fresh = await signIn(idp, sub);
    expect(decodeJwtParts(fresh.idToken).header.kid).toBe(newKid);
    // the cached key set (in its cooldown) cannot find the new kid; a fresh one fetches and accepts it
    await expect(jwtVerify(fresh.idToken, cachedJwks)).rejects.toMatchObject({
      code: "ERR_JWKS_NO_MATCHING_KEY",
    });
    expect(idp.jwksFetches).toBe(fetchesBefore);
    await jwtVerify(fresh.idToken, createRemoteJWKSet(new URL(idp.endpoints.jwks)), { issuer: idp.issuer });
    expect(idp.jwksFetches).toBe(fetchesBefore + 1);
    // the old token no longer verifies against the published keys
    await expect(jwtVerify(first.idToken, createRemoteJWKSet(new URL(idp.endpoints.jwks)))).rejects.toThrow();

    const keptKid = idp.currentKid;
    await idp.rotateKeys({ keepPrevious: true });
    expect(idp.publicJwks().keys.map((k) => k.kid)).toContain(keptKid);
  });

  it("tampers with the token response: forged ID tokens are refused, a real-key re-sign is accepted", async () => {
    const idp = await idpFor({});
    const sub = idp.accounts[0]!.sub;
    const foreign = await generateSigningJwk("RS256");
    const config = await discover(idp);
    const browser = newBrowser();
    const jwks = createRemoteJWKSet(new URL(idp.endpoints.jwks));
    let original: string | undefined;
    let delivered: string | undefined;

    /** Runs a sign-in whose token response is rewritten; returns what openid-client made of it. */
    const attempt = async (tamper: (idToken: string) => string | Promise<string>) => {
      idp.setTamper(async (body) => {
        original = body.id_token;
        delivered = await tamper(body.id_token!);
        return { ...body, id_token: delivered };
      });
      return signIn(idp, sub, browser, config).then(
        (ok) => ({ ok: true as const, claims: ok.claims }),
        (error: unknown) => ({ ok: false as const, error: errorText(error) }),
      );
    };

    // alg none: refused by openid-client itself
    expect(await attempt((t) => withAlgNone(t))).toMatchObject({ ok: false });
    expect(decodeJwtParts(delivered!).header.alg).toBe("none");
    expect(delivered!.endsWith(".")).toBe(true);

    // signature forgeries (openid-client trusts the TLS token response, so check them with jose like an RP)
    await attempt((t) => withBadSignature(t));
    expect(decodeJwtParts(delivered!).payload).toEqual(decodeJwtParts(original!).payload);
    await expect(jwtVerify(original!, jwks)).resolves.toBeDefined();
    await expect(jwtVerify(delivered!, jwks)).rejects.toMatchObject({
      code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    });

    await attempt((t) => resignWith(t, { email: "mallory@evil.example" }, foreign.privateJwk));
    expect(decodeJwtParts(delivered!).header.kid).toBe(idp.currentKid);
    expect(decodeJwtParts(delivered!).payload.email).toBe("mallory@evil.example");
    await expect(jwtVerify(delivered!, jwks)).rejects.toMatchObject({
      code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    });
    await expect(jwtVerify(delivered!, await importJWK(foreign.publicJwk, "RS256"))).resolves.toBeDefined();

    await attempt((t) => hs256WithPublicKey(t, idp.publicJwks().keys[0]!));
    expect(decodeJwtParts(delivered!).header.alg).toBe("HS256");
    await expect(jwtVerify(delivered!, jwks)).rejects.toThrow();
    // it really is an HMAC keyed with the public key's PEM (what a confused verifier would check)
    const pem = createPublicKey({ key: idp.publicJwks().keys[0]! as JsonWebKey, format: "jwk" })
      .export({ type: "spki", format: "pem" })
      .toString();
    await expect(jwtVerify(delivered!, new TextEncoder().encode(pem))).resolves.toBeDefined();

    // claim forgeries signed with the IdP's REAL key: only the claim checks catch them
    const past = Math.floor(Date.now() / 1000) - 3600;
    for (const [patch, pattern] of [
      [{ aud: "someone-else" }, /aud/],
      [{ iss: "http://evil.example" }, /iss/],
      [{ nonce: "other" }, /nonce/],
      [{ exp: past, iat: past - 60 }, /exp/],
    ] as const) {
      const result = await attempt((t) => idp.patchIdToken(t, patch));
      await expect(compactVerify(delivered!, jwks), "signed with the real key").resolves.toBeDefined();
      expect(result.ok, JSON.stringify(patch)).toBe(false);
      if (!result.ok) expect(result.error).toMatch(pattern);
    }

    // re-signed with the real key and a harmless patch: accepted, and the patch is visible
    const ok = await attempt((t) => idp.patchIdToken(t, { email: "patched@acme.example" }));
    expect(ok).toMatchObject({ ok: true, claims: { email: "patched@acme.example" } });
    await expect(
      jwtVerify(delivered!, jwks, { issuer: idp.issuer, audience: idp.clientId }),
    ).resolves.toBeDefined();

    idp.setTamper(null);
    const clean = await signIn(idp, sub, browser, config);
    expect(clean.claims.email).toBe("alice@acme.example");

    // signIdToken builds a token from scratch with the real key
    const token = await idp.signIdToken({ sub, nonce: "n1" });
    const { payload, protectedHeader } = await jwtVerify(token, jwks);
    expect(protectedHeader.kid).toBe(idp.currentKid);
    expect(payload).toMatchObject({ iss: idp.issuer, aud: idp.clientId, sub, nonce: "n1" });
  });

  it("can send a wrong RFC 9207 iss on the authorization redirect", async () => {
    const idp = await idpFor({ tamperRedirectIss: "http://evil.example" });
    const config = await discover(idp);
    const flow = await startFlow(config);
    const callback = await signInAtIdp(newBrowser(), flow.url, idp.accounts[0]!.sub, {
      stopAtCallback: true,
    });
    expect(new URL(callback.location!).searchParams.get("iss")).toBe("http://evil.example");
    expect(errorText(await finish(config, flow, callback).catch((e: unknown) => e))).toMatch(
      /unexpected "iss"/,
    );

    idp.setTamperRedirectIss(null);
    const flow2 = await startFlow(config);
    const cb2 = await signInAtIdp(newBrowser(), flow2.url, idp.accounts[0]!.sub, { stopAtCallback: true });
    expect(new URL(cb2.location!).searchParams.has("iss")).toBe(false);
  });

  it("goes down and comes back (reset, hang, refuse, error)", async () => {
    const idp = await idpFor({});
    const get = (timeoutMs = 1000) => fetch(idp.discoveryUrl, { signal: AbortSignal.timeout(timeoutMs) });
    expect((await get()).status).toBe(200);

    await idp.setDown(true);
    await expect(get()).rejects.toThrow();
    await expect(discover(idp)).rejects.toThrow();

    await idp.setDown(true, "hang");
    const started = Date.now();
    await expect(get(300)).rejects.toThrow(/timeout|aborted/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    await idp.setDown(true, "refuse");
    await expect(get()).rejects.toMatchObject({ cause: { code: "ECONNREFUSED" } });

    await idp.setDown(true, "error");
    expect((await get()).status).toBe(503);

    await idp.setDown(false);
    expect((await get()).status).toBe(200);
    const { claims } = await signIn(idp, idp.accounts[0]!.sub);
    expect(claims.sub).toBe(idp.accounts[0]!.sub);
  });

  it("azure: tenant discovery, custom tenant, and the {tenantid} multi-tenant document", async () => {
    const tenantId = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    const idp = await idpFor({ profile: "azure", tenantId, azureTemplateIssuer: true });
    expect(idp.discoveryUrl).toBe(`${idp.origin}/${tenantId}/v2.0/.well-known/openid-configuration`);
    const tenantDoc = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, string>;
    expect(tenantDoc.issuer).toBe(idp.issuer);
    expect(tenantDoc.authorization_response_iss_parameter_supported).toBe(true);

    const common = (await (await fetch(idp.commonDiscoveryUrl!)).json()) as Record<string, string>;
    expect(common.issuer).toBe(`${idp.origin}/{tenantid}/v2.0`);
    expect(common.issuer).toBe(idp.templateIssuer);
    expect(common.authorization_endpoint).toBe(`${idp.origin}/common/v2.0/auth`);
    expect(common.jwks_uri).toBe(`${idp.origin}/common/v2.0/jwks`);
    const orgs = (await (
      await fetch(`${idp.origin}/organizations/v2.0/.well-known/openid-configuration`)
    ).json()) as {
      issuer: string;
    };
    expect(orgs.issuer).toBe(idp.templateIssuer);

    // a relying party using the common endpoints gets tokens whose iss is the template with the real tid
    const config = new client.Configuration(
      { ...common, issuer: idp.issuer } as client.ServerMetadata,
      idp.clientId,
      idp.clientSecret,
      client.ClientSecretBasic(idp.clientSecret),
    );
    client.allowInsecureRequests(config);
    const { claims } = await signIn(idp, idp.accounts[0]!.sub, newBrowser(), config);
    expect(claims.tid).toBe(tenantId);
    expect(claims.iss).toBe(common.issuer!.replace("{tenantid}", String(claims.tid)));
  });

  it("okta: an issuer path like a custom authorization server", async () => {
    const idp = await idpFor({ profile: "okta", issuerPath: "/oauth2/default" });
    expect(idp.issuer).toBe(`${idp.origin}/oauth2/default`);
    expect(idp.discoveryUrl).toBe(`${idp.origin}/oauth2/default/.well-known/openid-configuration`);
    const { claims } = await signIn(idp, "alice@acme.example");
    expect(claims.iss).toBe(idp.issuer);
    expect((await fetch(`${idp.origin}/.well-known/openid-configuration`)).status).toBe(404);
  });

  it("updates the client registration and handles the cancel button", async () => {
    const idp = await idpFor({});
    const other = "http://other.localhost:4000/login/sso";
    idp.updateClient({ redirectUris: [REDIRECT_URI, other] });
    expect(idp.redirectUris).toEqual([REDIRECT_URI, other]);
    const config = await discover(idp);
    const flow = await startFlow(config);
    const browser = newBrowser();
    const formPage = await browser.follow(flow.url);
    const cancelled = await browser.follow(await browser.submitForm(formPage, {}, 1), {
      stopBefore: (u) => u.href.startsWith(REDIRECT_URI),
    });
    expect(new URL(cancelled.location!).searchParams.get("error")).toBe("access_denied");
  });
});
