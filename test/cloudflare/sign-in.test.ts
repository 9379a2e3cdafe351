// SPEC §5: sign-in with a Cloudflare Access assertion, against a loopback team domain that plays
// Cloudflare (ALLOW_PRIVATE_IDP_URLS=true lets the team domain be 127.0.0.1:<port> over http).
import { generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../support/browser.js";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";
import { storages } from "../support/db.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";
import {
  attempt,
  createCloudflareConnection,
  enableWithTest,
  expectNoSession,
  expectSignedIn,
  FAILED,
  getTest,
  LOGIN_PATH,
  newAuditEntry,
  newestAuditId,
  nowSeconds,
  person,
  runTest,
} from "./helpers.js";

describe.each(storages())("Cloudflare Access sign-in (%s)", (storage) => {
  let w: SsoWorld;
  let cf: FakeCloudflareAccess;
  let connectionId: string;
  let aliceId: string;

  const ALICE = "alice@acme.test";

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    cf = await startCloudflareAccess({ email: ALICE });
    const alice = await w.t.seedUser(w.agencyId, {
      email: ALICE,
      role: "analyst",
      subAccountIds: [w.subAccountId],
    });
    aliceId = alice.id;
    await w.t.seedUser(w.agencyId, { email: "bob@acme.test", role: "analyst" }); // no sub-account
    await w.t.seedUser(w.agencyId, { email: "carol@acme.test", role: "admin" });
    await w.t.seedUser(w.agencyId, { email: "dave@acme.test", role: "admin" });
    // Carol has 2FA (set up by the 2FA flow in real life; only the flag matters for the hand-off).
    await w.t.ctx.db
      .updateTable("users")
      .set({ totp_enabled: true })
      .where("email", "=", "carol@acme.test")
      .execute();
    const created = await createCloudflareConnection(w, cf);
    connectionId = created.id;
    expect(created.body.warnings.join(" ")).toMatch(/not a \*\.cloudflareaccess\.com domain/);
  });
  afterAll(async () => {
    await w?.close();
    await cf?.close();
  });

  /** Expects a refusal: the login page with cloudflare_failed, no session, an audit entry naming the cause. */
  async function expectRefused(
    token: string | null,
    cause: RegExp,
    options: { cookie?: string; target?: null } = {},
  ) {
    const before = await newestAuditId(w, "sso.sign_in");
    const sessionsBefore = await countSessions();
    const { res, browser } = await attempt(w, token, options);
    expect(res.status).toBe(302);
    expect(where(res)).toBe(FAILED);
    await expectNoSession(w, browser);
    expect(await countSessions()).toBe(sessionsBefore);
    const entry = await newAuditEntry(w, "sso.sign_in", before);
    expect(entry.outcome).toBe("failure");
    expect(entry.target).toEqual(
      options.target === null ? null : { type: "sso_connection", id: connectionId },
    );
    expect(entry.details).toMatchObject({ method: "cloudflare", code: "cloudflare_failed" });
    expect(entry.details.cause).toMatch(cause);
    if (token) expect(JSON.stringify(entry)).not.toContain(token.split(".")[1]!);
    await browser.close();
    return entry;
  }

  async function countSessions(): Promise<number> {
    const row = await w.t.ctx.db
      .selectFrom("sessions")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  it("cannot be used before the connection is enabled", async () => {
    await expectRefused(await cf.sign(person(ALICE)), /no enabled Cloudflare Access connection/, {
      target: null,
    });
    const res = await w.api("PUT", `/api/admin/sso/connections/${connectionId}/enabled`, { enabled: true });
    expect(res.status).toBe(409);
  });

  it("is enabled through a passed test run from the admin's browser", async () => {
    const test = await enableWithTest(w, connectionId, await cf.sign(person("admin@acme.test")));
    expect(test.diagnostic?.claimNames).toEqual(
      expect.arrayContaining(["aud", "email", "exp", "iat", "iss", "sub", "type"]),
    );
    expect(JSON.stringify(test.diagnostic)).not.toContain("admin@acme.test");
    const methods = await w.api("GET", "/api/auth/methods");
    expect(methods.json<{ sso: unknown[] }>().sso).toEqual([
      { id: connectionId, name: "Cloudflare Access", type: "cloudflare-access" },
    ]);
  });

  it("signs a user in with a valid assertion, links the Remote ID, and audits it", async () => {
    const fetchesBefore = cf.certsFetches;
    const { res, browser } = await attempt(w, await cf.sign(person(ALICE)));
    expect(res.status).toBe(302);
    expect(where(res)).toBe("/");
    await expectSignedIn(w, browser, ALICE);
    const user = await w.t.ctx.db
      .selectFrom("users")
      .select("external_user_id")
      .where("id", "=", aliceId)
      .executeTakeFirstOrThrow();
    expect(user.external_user_id).toBe(`cf-${ALICE}`);
    const entry = (await w.auditFor("auth.sign_in"))[0]!;
    expect(entry.outcome).toBe("success");
    expect(entry.details).toMatchObject({ method: "cloudflare", connectionId });
    // The certs were downloaded by the test and are cached since.
    expect(cf.certsFetches).toBe(fetchesBefore);
    await browser.close();
  });

  it("honours a safe returnTo and refuses an unsafe one", async () => {
    const safe = await attempt(w, await cf.sign(person(ALICE)), { query: "?returnTo=/settings/users" });
    expect(where(safe.res)).toBe("/settings/users");
    const unsafe = await attempt(w, await cf.sign(person(ALICE)), { query: "?returnTo=//evil.example/x" });
    expect(where(unsafe.res)).toBe("/");
    const tab = await attempt(w, await cf.sign(person(ALICE)), { query: "?returnTo=%2F%09%2Fevil.example" });
    expect(where(tab.res)).toBe("/");
  });

  it("starts at /login/sso/start like every kind: the kind sends the browser behind Access, returnTo kept", async () => {
    const browser = new Browser();
    const start = await browser.get(
      `${w.origin}/login/sso/start?connection=${connectionId}&returnTo=${encodeURIComponent("/settings/users")}`,
    );
    expect(start.status).toBe(302);
    expect(where(start)).toBe(`${LOGIN_PATH}?returnTo=${encodeURIComponent("/settings/users")}`);
    const token = await cf.sign(person(ALICE));
    const landed = await attempt(w, token, {
      browser,
      query: `?returnTo=${encodeURIComponent("/settings/users")}`,
    });
    expect(where(landed.res)).toBe("/settings/users");
    await expectSignedIn(w, browser, ALICE);
  });

  it("signs in to a non-ASCII returnTo, percent-encoded (never a 500)", async () => {
    const { res } = await attempt(w, await cf.sign(person(ALICE)), {
      query: `?returnTo=${encodeURIComponent("/日本")}`,
    });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe("/%E6%97%A5%E6%9C%AC");
  });

  it("falls back to the CF_Authorization cookie when the header is absent", async () => {
    const { res, browser } = await attempt(w, null, { cookie: await cf.sign(person(ALICE)) });
    expect(where(res)).toBe("/");
    await expectSignedIn(w, browser, ALICE);
  });

  it("prefers the header over the cookie", async () => {
    await expectRefused(
      await cf.sign(person(ALICE), { use: "current", kid: "nope" }),
      /^an assertion arrived in the Cf-Access-Jwt-Assertion header; the signature check failed/,
      {
        cookie: await cf.sign(person(ALICE)),
      },
    );
  });

  it("accepts assertions within the 60 s clock skew", async () => {
    const now = nowSeconds(w);
    for (const claims of [{ exp: now - 30 }, { nbf: now + 30, iat: now + 30 }]) {
      const { res } = await attempt(w, await cf.sign(person(ALICE, claims)));
      expect(where(res), JSON.stringify(claims)).toBe("/");
    }
  });

  it("refuses a missing assertion", async () => {
    await expectRefused(null, /no assertion arrived/);
  });

  it("refuses something that is not a JWT", async () => {
    await expectRefused("not-a-jwt", /format check failed/);
  });

  it("refuses a wrong audience", async () => {
    await expectRefused(await cf.sign(person(ALICE, { aud: ["0".repeat(64)] })), /audience check failed/);
    await expectRefused(
      await cf.sign(person(ALICE, { aud: undefined })),
      /audience check failed: the assertion has no aud/,
    );
  });

  it("refuses a wrong issuer, compared exactly", async () => {
    await expectRefused(
      await cf.sign(person(ALICE, { iss: "https://evil.cloudflareaccess.com" })),
      /issuer check failed: iss https:\/\/evil\.cloudflareaccess\.com is not http:\/\/127\.0\.0\.1/,
    );
    await expectRefused(await cf.sign(person(ALICE, { iss: `${cf.issuer}/` })), /issuer check failed/);
    await expectRefused(
      await cf.sign(person(ALICE, { iss: `https://${cf.teamDomain}` })),
      /issuer check failed/,
    );
    await expectRefused(
      await cf.sign(person(ALICE, { iss: undefined })),
      /issuer check failed: iss \(none\)/,
    );
  });

  it("refuses an expired assertion", async () => {
    const now = nowSeconds(w);
    await expectRefused(
      await cf.sign(person(ALICE, { exp: now - 120, iat: now - 600, nbf: now - 600 })),
      /expiry check failed: the assertion expired/,
    );
    await expectRefused(
      await cf.sign(person(ALICE, { exp: undefined })),
      /expiry check failed: the assertion has no numeric exp/,
    );
  });

  it("refuses an assertion that is not yet valid", async () => {
    const now = nowSeconds(w);
    await expectRefused(await cf.sign(person(ALICE, { nbf: now + 120 })), /not_before check failed/);
    await expectRefused(await cf.sign(person(ALICE, { iat: now + 120 })), /issued_at check failed/);
    await expectRefused(
      await cf.sign(person(ALICE, { iat: undefined })),
      /issued_at check failed: the assertion has no numeric iat/,
    );
  });

  it("refuses a bad signature", async () => {
    const foreign = await generateKeyPair("RS256");
    await expectRefused(
      await cf.sign(person(ALICE), { key: foreign.privateKey }),
      /signature check failed: the signature does not verify/,
    );
    // A valid assertion with another person's claims spliced in.
    const [header, , signature] = (await cf.sign(person(ALICE))).split(".");
    const forged = Buffer.from(
      JSON.stringify({ ...cf.defaultClaims(), ...person("dave@acme.test") }),
    ).toString("base64url");
    await expectRefused(`${header}.${forged}.${signature}`, /signature check failed/);
  });

  it("refuses every algorithm other than RS256, including none and HS256 keyed with the public key", async () => {
    for (const alg of ["RS384", "RS512", "PS256"]) {
      await expectRefused(
        await cf.sign(person(ALICE), { alg }),
        new RegExp(`algorithm check failed: alg ${alg} is not RS256`),
      );
    }
    await expectRefused(cf.signNone(person(ALICE)), /algorithm check failed: alg none is not RS256/);
    for (const secret of ["pem", "der", "jwk"] as const) {
      await expectRefused(
        cf.signHs256WithPublicKey(person(ALICE), { secret }),
        /algorithm check failed: alg HS256 is not RS256/,
      );
    }
  });

  it("refuses the organisation token (type other than app)", async () => {
    await expectRefused(await cf.sign(person(ALICE, { type: "org" })), /type check failed/);
  });

  it("refuses a service token", async () => {
    await expectRefused(await cf.signServiceToken(), /service_token check failed/);
    // Even one that carries an email: a service token is no person.
    await expectRefused(await cf.signServiceToken(person(ALICE)), /service_token check failed/);
  });

  it("refuses an assertion without an email", async () => {
    await expectRefused(
      await cf.sign(person(ALICE, { email: undefined })),
      /email check failed: the assertion has no email/,
    );
    await expectRefused(
      await cf.sign(person(ALICE, { email: "  " })),
      /email check failed: the assertion's email is empty/,
    );
  });

  it("answers API clients with 401 JSON", async () => {
    const { res, browser } = await attempt(w, cf.signNone(person(ALICE)), { accept: "application/json" });
    expect(res.status).toBe(401);
    expect(res.json()).toEqual({
      error: { code: "cloudflare_failed", message: "Cloudflare authentication failed" },
    });
    await expectNoSession(w, browser);
  });

  it("refuses a good assertion of an unknown person with user_not_found", async () => {
    const before = await newestAuditId(w, "sso.sign_in");
    const { res, browser } = await attempt(w, await cf.sign(person("stranger@acme.test")));
    expect(where(res)).toBe("/login?error=user_not_found");
    await expectNoSession(w, browser);
    const entry = await newAuditEntry(w, "sso.sign_in", before);
    expect(entry.details).toMatchObject({ method: "cloudflare", code: "user_not_found", step: "resolution" });
    const json = await attempt(w, await cf.sign(person("stranger@acme.test")), {
      accept: "application/json",
    });
    expect(json.res.status).toBe(401);
    expect(json.res.json<{ error: { code: string } }>().error.code).toBe("user_not_found");
  });

  it("refuses an analyst without a sub-account with not_authorized", async () => {
    const { res, browser } = await attempt(w, await cf.sign(person("bob@acme.test")));
    expect(where(res)).toBe("/login?error=not_authorized");
    await expectNoSession(w, browser);
  });

  it("hands a user with 2FA over to the 2FA step without a session", async () => {
    const { res, browser } = await attempt(w, await cf.sign(person("carol@acme.test")));
    expect(where(res)).toBe("/login/2fa");
    expect(browser.jar.get(w.origin, "copilot_mfa")).toBeDefined();
    await expectNoSession(w, browser);
  });

  it("refuses when the agency's SSO is off", async () => {
    expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: false })).status).toBe(200);
    await expectRefused(await cf.sign(person(ALICE)), /SSO is not enabled/);
    expect((await w.api("PUT", "/api/admin/sso/settings", { enabled: true })).status).toBe(200);
  });

  it("refuses an unknown kid before a rotation and accepts it after (the certs are refetched)", async () => {
    const fetchesBefore = cf.certsFetches;
    await expectRefused(
      await cf.sign(person(ALICE), { use: "next" }),
      /signature check failed: no key .* matches the assertion's kid/,
    );
    // At most one download for the unknown kid (the cooldown bounds the rest).
    expect(cf.certsFetches - fetchesBefore).toBeLessThanOrEqual(1);
    await expectRefused(await cf.sign(person(ALICE), { kid: "f".repeat(64) }), /signature check failed/);

    const newKid = await cf.rotate();
    expect(newKid).toBe(cf.currentKid);
    w.t.clock.advance(31_000); // past the refetch cooldown
    const fetchesBeforeRotation = cf.certsFetches;
    const { res, browser } = await attempt(w, await cf.sign(person(ALICE)));
    expect(where(res)).toBe("/");
    await expectSignedIn(w, browser, ALICE);
    expect(cf.certsFetches).toBe(fetchesBeforeRotation + 1);
    // Cloudflare still publishes the previous key: assertions signed before the rotation verify.
    const previous = await attempt(w, await cf.sign(person(ALICE), { use: "previous" }));
    expect(where(previous.res)).toBe("/");
    expect(cf.certsFetches).toBe(fetchesBeforeRotation + 1);
  });

  it("never writes a token to the audit log", async () => {
    await w.expectAuditClean();
  });
});

describe.each(storages())("Cloudflare Access connection tests (%s)", (storage) => {
  let w: SsoWorld;
  let cf: FakeCloudflareAccess;
  let connectionId: string;

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    cf = await startCloudflareAccess();
    connectionId = (await createCloudflareConnection(w, cf)).id;
  });
  afterAll(async () => {
    await w?.close();
    await cf?.close();
  });

  it("records that no assertion arrived", async () => {
    const test = await runTest(w, connectionId, null);
    expect(test).toMatchObject({
      status: "failed",
      errorCode: "cloudflare_failed",
      message: "Cloudflare authentication failed",
    });
    expect(test.diagnostic?.step).toBe("assertion");
    expect(test.diagnostic?.detail).toMatch(/^no assertion arrived/);
    expect(test.diagnostic?.claimNames).toEqual([]);
    const entry = (await w.auditFor("sso.test"))[0]!;
    expect(entry).toMatchObject({
      outcome: "failure",
      details: { assertionReceived: false, check: "missing" },
    });
  });

  it("records which check failed and the claims' names", async () => {
    const test = await runTest(w, connectionId, await cf.sign(person("admin@acme.test", { aud: ["other"] })));
    expect(test.status).toBe("failed");
    expect(test.diagnostic?.detail).toMatch(
      /^an assertion arrived in the Cf-Access-Jwt-Assertion header; the audience check failed/,
    );
    expect(test.diagnostic?.claimNames).toEqual(
      expect.arrayContaining(["aud", "email", "iss", "sub", "type"]),
    );
    expect(JSON.stringify(test.diagnostic)).not.toContain("admin@acme.test");
    const signature = await runTest(
      w,
      connectionId,
      await cf.sign(person("admin@acme.test"), { use: "next" }),
    );
    expect(signature.diagnostic?.detail).toMatch(/the signature check failed/);
    expect(signature.diagnostic?.claimNames).toEqual([]); // nothing unverified is reported
  });

  it("records a mapping failure of a good assertion", async () => {
    const test = await runTest(w, connectionId, await cf.sign(person("admin@acme.test", { sub: undefined })));
    expect(test).toMatchObject({ status: "failed", errorCode: "remote_id_missing" });
    expect(test.diagnostic?.step).toBe("mapping");
  });

  it("passes with the matched user, or none, and changes no user", async () => {
    const passed = await runTest(w, connectionId, await cf.sign(person("admin@acme.test")));
    expect(passed.status).toBe("passed");
    const admin = await w.t.ctx.db
      .selectFrom("users")
      .select(["id", "external_user_id"])
      .where("email", "=", "admin@acme.test")
      .executeTakeFirstOrThrow();
    expect(passed.matchedUserId).toBe(admin.id);
    expect(admin.external_user_id).toBeNull();
    const nobody = await runTest(w, connectionId, await cf.sign(person("nobody@acme.test")));
    expect(nobody).toMatchObject({ status: "passed", matchedUserId: null });
  });

  it("needs the agency admin's session and a pending test of this agency", async () => {
    const started = await w.api("POST", `/api/admin/sso/connections/${connectionId}/tests`);
    const { test, authorizationUrl } = started.json<{ test: { id: string }; authorizationUrl: string }>();
    const token = await cf.sign(person("admin@acme.test"));
    // Another browser (no session) cannot finish the admin's test.
    const stranger = new Browser();
    const res = await stranger.get(`${w.origin}${authorizationUrl}`, {
      headers: { "cf-access-jwt-assertion": token },
    });
    expect(where(res)).toBe(FAILED);
    expect((await getTest(w, test.id)).status).toBe("pending");
    // An unknown test id.
    const unknown = await w.admin.get(`${w.origin}/login/sso/cloudflare?test=nope`, {
      headers: { "cf-access-jwt-assertion": token },
    });
    expect(where(unknown)).toBe(FAILED);
    // The admin finishes it; a reload shows the result again without running it twice.
    const done = await w.admin.get(`${w.origin}${authorizationUrl}`, {
      headers: { "cf-access-jwt-assertion": token },
    });
    expect(where(done)).toBe(`/settings/sso?test=${test.id}`);
    const again = await w.admin.get(`${w.origin}${authorizationUrl}`);
    expect(where(again)).toBe(`/settings/sso?test=${test.id}`);
    expect((await getTest(w, test.id)).status).toBe("passed");
    await stranger.close();
  });

  it("with two enabled Access applications, verifies against the one the assertion names", async () => {
    const other = await startCloudflareAccess();
    try {
      const second = await createCloudflareConnection(w, other);
      await enableWithTest(w, connectionId, await cf.sign(person("admin@acme.test")));
      await enableWithTest(w, second.id, await other.sign(person("admin@acme.test")));
      for (const team of [cf, other]) {
        const { res, browser } = await attempt(w, await team.sign(person("admin@acme.test")));
        expect(where(res)).toBe("/");
        await expectSignedIn(w, browser, "admin@acme.test");
        await browser.close();
      }
      // The AUD tag of one application with the signature of the other is still refused.
      const mixed = await other.sign(person("admin@acme.test", { aud: [cf.audTag] }));
      expect(where((await attempt(w, mixed)).res)).toBe(FAILED);
    } finally {
      await other.close();
    }
  });
});
