/**
 * A session that Cloudflare Access started lives only while Access vouches for the same person:
 * every request must carry a valid assertion for the session's user (SPEC §5: Cloudflare adds it to
 * every request). Anything else ends the session, audited.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "../support/browser.js";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";
import { storages } from "../support/db.js";
import { createSsoWorld, type SsoWorld, where } from "../support/sso.js";
import {
  attempt,
  createCloudflareConnection,
  enableWithTest,
  expectSignedIn,
  newAuditEntry,
  newestAuditId,
  nowSeconds,
  person,
} from "./helpers.js";

describe.each(storages())("Cloudflare Access sessions follow Access (%s)", (storage) => {
  let w: SsoWorld;
  let cf: FakeCloudflareAccess;
  let connectionId: string;

  const ALICE = "alice@acme.test";
  const DAVE = "dave@acme.test";

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    cf = await startCloudflareAccess({ email: ALICE });
    for (const email of [ALICE, DAVE]) {
      await w.t.seedUser(w.agencyId, { email, role: "analyst", subAccountIds: [w.subAccountId] });
    }
    connectionId = (await createCloudflareConnection(w, cf)).id;
    await enableWithTest(w, connectionId, await cf.sign(person("admin@acme.test")));
  });
  afterAll(async () => {
    await w?.close();
    await cf?.close();
  });

  async function signedInAlice(): Promise<{ browser: Browser; token: string }> {
    const token = await cf.sign(person(ALICE));
    const { res, browser } = await attempt(w, token);
    expect(where(res)).toBe("/");
    await expectSignedIn(w, browser, ALICE);
    return { browser, token };
  }

  const me = (browser: Browser, headers: Record<string, string> = {}) =>
    browser.get(`${w.origin}/api/auth/me`, { headers });

  /** The request was refused, the session row is gone, and the audit log says why. */
  async function expectEnded(browser: Browser, token: string, before: unknown, cause: RegExp) {
    const entry = await newAuditEntry(w, "auth.session_end", before);
    expect(entry.outcome).toBe("failure");
    expect(entry.details).toMatchObject({ method: "cloudflare" });
    expect(entry.details.cause).toMatch(cause);
    expect(JSON.stringify(entry)).not.toContain(token.split(".")[1]!);
    // Ended, not skipped: Alice's own assertion does not bring it back.
    expect((await me(browser, { "cf-access-jwt-assertion": token })).status).toBe(401);
  }

  it("continues with the same person's assertion, in the header or the CF_Authorization cookie", async () => {
    const { browser, token } = await signedInAlice();
    expect((await me(browser, { "cf-access-jwt-assertion": token })).status).toBe(200);
    browser.jar.setCookie(w.origin, `CF_Authorization=${token}; Path=/`);
    expect((await me(browser)).status).toBe(200);
    // A fresh assertion of the same person (Access re-issued it) is fine too.
    const fresh = await cf.sign(person(ALICE));
    expect((await me(browser, { "cf-access-jwt-assertion": fresh })).status).toBe(200);
  });

  it("ends the session when a request carries no assertion", async () => {
    const { browser, token } = await signedInAlice();
    const before = await newestAuditId(w, "auth.session_end");
    expect((await me(browser)).status).toBe(401);
    await expectEnded(browser, token, before, /no Cloudflare Access assertion/);
  });

  it("ends the session when the assertion names another person", async () => {
    const { browser, token } = await signedInAlice();
    const before = await newestAuditId(w, "auth.session_end");
    const dave = await cf.sign(person(DAVE));
    expect((await me(browser, { "cf-access-jwt-assertion": dave })).status).toBe(401);
    await expectEnded(browser, token, before, /names another person/);
  });

  it("continues when Access gives the same person (this connection's link of their Remote ID) a new email", async () => {
    const { browser } = await signedInAlice();
    const renamed = await cf.sign(person("alice.renamed@acme.test", { sub: `cf-${ALICE}` }));
    expect((await me(browser, { "cf-access-jwt-assertion": renamed })).status).toBe(200);
  });

  it("ends the session when another person's Remote ID equals the user's externalUserId but is not this connection's link", async () => {
    const { browser, token } = await signedInAlice();
    // An admin gave Alice the Remote ID of another IdP; at Access that value names someone else.
    const set = (value: string) =>
      w.t.ctx.db.updateTable("users").set({ external_user_id: value }).where("email", "=", ALICE).execute();
    await set("okta-7");
    try {
      const before = await newestAuditId(w, "auth.session_end");
      const other = await cf.sign(person("mallory@acme.test", { sub: "okta-7" }));
      expect((await me(browser, { "cf-access-jwt-assertion": other })).status).toBe(401);
      await expectEnded(browser, token, before, /names another person/);
    } finally {
      await set(`cf-${ALICE}`);
    }
  });

  it("ends the session when Access's assertion has expired (the Access session is over)", async () => {
    const { browser, token } = await signedInAlice();
    const before = await newestAuditId(w, "auth.session_end");
    const now = nowSeconds(w);
    const expired = await cf.sign(person(ALICE, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 }));
    expect((await me(browser, { "cf-access-jwt-assertion": expired })).status).toBe(401);
    await expectEnded(browser, token, before, /refused \(exp/);
  });

  it("remembers a verified assertion: the same one keeps working while the certs endpoint is down", async () => {
    const { browser, token } = await signedInAlice();
    await cf.setDown(true, "error");
    try {
      expect((await me(browser, { "cf-access-jwt-assertion": token })).status).toBe(200);
    } finally {
      await cf.setDown(false);
    }
  });

  it("does not touch sessions of other sign-in methods", async () => {
    expect((await w.admin.get(`${w.origin}/api/auth/me`)).status).toBe(200);
  });

  it("ends Cloudflare sessions once the connection is disabled", async () => {
    const { browser, token } = await signedInAlice();
    const off = await w.api("PUT", `/api/admin/sso/connections/${connectionId}/enabled`, { enabled: false });
    expect(off.status).toBe(200);
    const before = await newestAuditId(w, "auth.session_end");
    expect((await me(browser, { "cf-access-jwt-assertion": token })).status).toBe(401);
    await expectEnded(browser, token, before, /no enabled Cloudflare Access connection/);
  });
});
