// SPEC §17 connection traces, end to end against the loopback oidc-provider and a fake Cloudflare
// Access team domain: every attempt of a connection (test or sign-in, success or failure) leaves a
// trace with the step that ended it, the cause, the claim names and the matched user; admins of the
// agency browse them (newest first, by outcome, paged), nobody else does; the stored row holds no
// email, subject, token or nonce; housekeeping deletes them after 7 days; a test links to its trace.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepExpired } from "../../src/db/housekeeping.js";
import { recordTrace, traceIdOfTest } from "../../src/sso/traces.js";
import { attempt, runTest as runCloudflareTest } from "../cloudflare/helpers.js";
import { TEST_PASSWORD } from "../support/app.js";
import { Browser, signInAtIdp } from "../support/browser.js";
import { type FakeCloudflareAccess, startCloudflareAccess } from "../support/cloudflare.js";
import { storages } from "../support/db.js";
import { decodeJwtParts, type Idp, withBadSignature } from "../support/idp.js";
import { createSsoWorld, forgetIdpSession, type SsoWorld, where } from "../support/sso.js";

const ALICE = { sub: "sub-7c1e-alice", email: "alice@acme.test", name: "Alice Liddell" };
const STRANGER = { sub: "sub-99d0-stranger", email: "stranger@acme.test" };
const NOEMAIL = { sub: "sub-41aa-noemail" };

interface Summary {
  id: string;
  connectionId: string;
  kind: string;
  purpose: "login" | "test";
  outcome: "success" | "failure";
  step: string;
  code: string | null;
  message: string | null;
  cause: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  testId: string | null;
  user: { id: string; email: string } | null;
}
interface Trace extends Summary {
  claimNames: string[];
  messages: Array<{ name: string; at: string; data: any }>;
}

describe.each(storages())("connection traces (%s)", (storage) => {
  let w: SsoWorld;
  let idp: Idp;
  let cf: FakeCloudflareAccess;
  let connectionId: string;
  let aliceId: string;
  let cfId: string;

  const list = async (query = "", id = connectionId) => {
    const res = await w.api("GET", `/api/admin/sso/connections/${id}/traces${query}`);
    expect(res.status, res.body).toBe(200);
    return res.json<{ traces: Summary[]; next: string | null }>();
  };
  const get = async (id: string) => {
    const res = await w.api("GET", `/api/admin/sso/traces/${id}`);
    expect(res.status, res.body).toBe(200);
    return res.json<{ trace: Trace }>().trace;
  };
  const newest = async (id = connectionId) => {
    const { traces } = await list("?limit=1", id);
    expect(traces).toHaveLength(1);
    return get(traces[0]!.id);
  };

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    idp = await w.startIdp([
      { sub: ALICE.sub, claims: { email: ALICE.email, email_verified: true, name: ALICE.name } },
      { sub: STRANGER.sub, claims: { email: STRANGER.email, email_verified: true } },
      { sub: NOEMAIL.sub, claims: { name: "No Email" } },
    ]);
    w.watch(idp);
    cf = await startCloudflareAccess({ email: ALICE.email });
    aliceId = (
      await w.t.seedUser(w.agencyId, { email: ALICE.email, role: "analyst", subAccountIds: [w.subAccountId] })
    ).id;
    connectionId = await w.connectIdp(idp);
  });
  afterAll(async () => {
    await idp?.close();
    await cf?.close();
    await w?.close();
  });

  it("a passed test leaves a success trace, and the test links to it", async () => {
    const test = await w.runTest(connectionId, ALICE.sub);
    expect(test.status).toBe("passed");
    expect(test.traceId).toEqual(expect.any(String));
    expect(await traceIdOfTest(w.t.ctx.db, w.agencyId, test.id)).toBe(test.traceId);
    const listed = await w.api("GET", `/api/admin/sso/connections/${connectionId}/tests`);
    expect(listed.json<{ tests: Array<{ id: string; traceId: string }> }>().tests[0]).toMatchObject({
      id: test.id,
      traceId: test.traceId,
    });

    const trace = await get(test.traceId);
    expect(trace).toMatchObject({
      id: test.traceId,
      connectionId,
      kind: "oidc",
      purpose: "test",
      outcome: "success",
      step: "done",
      code: null,
      message: null,
      testId: test.id,
      user: { id: aliceId, email: ALICE.email },
    });
    expect(trace.cause).toMatch(/matched by email/);
    expect(trace.claimNames).toEqual(expect.arrayContaining(["sub", "email", "email_verified", "name"]));
    expect([...trace.claimNames].sort()).toEqual(trace.claimNames);
    expect(new Date(trace.startedAt).getTime()).toBeLessThanOrEqual(new Date(trace.finishedAt).getTime());
    const callback = trace.messages.find((m) => m.name === "callback");
    expect(callback?.data.params).toMatchObject({
      iss: idp.issuer,
      code: expect.stringMatching(/^\[redacted: \d+ chars\]$/),
      state: expect.stringMatching(/^\[redacted: \d+ chars\]$/),
    });
  });

  it("a test failing at the mapping leaves a failure trace with the step, the §4 message and the cause", async () => {
    const test = await w.runTest(connectionId, NOEMAIL.sub);
    expect(test.status).toBe("failed");
    const trace = await get(test.traceId);
    expect(trace).toMatchObject({
      purpose: "test",
      outcome: "failure",
      step: "mapping",
      code: "email_or_id_missing",
      message: "emailField or idField is not configured properly, please contact your admin.",
      testId: test.id,
      user: null,
    });
    expect(trace.cause).toBeTruthy();
    expect(trace.claimNames).toContain("sub");
    expect(trace.claimNames).not.toContain("email");
  });

  it("a test whose ID token is refused leaves a failure trace at the ID token step", async () => {
    idp.setTamper((body) => ({ ...body, id_token: withBadSignature(body.id_token!) }));
    try {
      const test = await w.runTest(connectionId, ALICE.sub);
      expect(test.status).toBe("failed");
      const trace = await get(test.traceId);
      expect(trace).toMatchObject({
        purpose: "test",
        outcome: "failure",
        code: "sso_failed",
        testId: test.id,
      });
      expect(trace.step).toBe(test.diagnostic.step);
      expect(trace.step).not.toBe("mapping");
      expect(trace.cause).toBe(test.diagnostic.detail);
      expect(trace.claimNames).toEqual([]);
    } finally {
      idp.setTamper(null);
    }
  });

  it("a sign-in leaves a success trace with the matched user", async () => {
    await w.enable(connectionId, ALICE.sub);
    const { res } = await w.signIn(connectionId, ALICE.sub);
    expect(where(res)).toBe("/");
    const trace = await newest();
    expect(trace).toMatchObject({
      purpose: "login",
      outcome: "success",
      step: "done",
      code: null,
      testId: null,
      user: { id: aliceId, email: ALICE.email },
    });
    expect(trace.claimNames).toEqual(expect.arrayContaining(["sub", "email", "email_verified"]));
    expect(trace.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("a sign-in that continues at the two-factor step leaves a success trace at the step mfa", async () => {
    const carol = await w.t.seedUser(w.agencyId, { email: "carol@acme.test", role: "admin" });
    await w.t.ctx.db.updateTable("users").set({ totp_enabled: true }).where("id", "=", carol.id).execute();
    idp.addAccount({ sub: "sub-2fa-carol", claims: { email: "carol@acme.test", email_verified: true } });
    const { res } = await w.signIn(connectionId, "sub-2fa-carol");
    expect(where(res)).toBe("/login/2fa");
    const trace = await newest();
    expect(trace).toMatchObject({
      purpose: "login",
      outcome: "success",
      step: "mfa",
      user: { id: carol.id, email: "carol@acme.test" },
    });
    expect(trace.cause).toMatch(/two-factor/);
  });

  it("a sign-in refused by the resolution leaves a failure trace with step and cause", async () => {
    const { res } = await w.signIn(connectionId, STRANGER.sub);
    expect(where(res)).toBe("/login?error=user_not_found");
    const trace = await newest();
    expect(trace).toMatchObject({
      purpose: "login",
      outcome: "failure",
      step: "resolution",
      code: "user_not_found",
      message: "No user found with this email.",
      user: null,
    });
    expect(trace.cause).toBeTruthy();
    expect(trace.claimNames).toContain("email");
  });

  it("a sign-in the IdP answers with an error leaves a failure trace with the IdP's error", async () => {
    const { callback, browser } = await w.toCallback(connectionId, ALICE.sub);
    const url = new URL(callback);
    const refused = new URL(`${w.origin}/login/sso`);
    refused.searchParams.set("error", "access_denied");
    refused.searchParams.set("error_description", "The user denied the request");
    refused.searchParams.set("state", url.searchParams.get("state")!);
    refused.searchParams.set("iss", idp.issuer);
    const res = await browser.get(refused.href);
    expect(where(res)).toBe("/login?error=sso_failed");
    const trace = await newest();
    expect(trace).toMatchObject({ purpose: "login", outcome: "failure", code: "sso_failed" });
    expect(trace.cause).toContain("access_denied");
    expect(trace.messages.find((m) => m.name === "callback")?.data.params).toMatchObject({
      error: "access_denied",
      error_description: "The user denied the request",
    });
    await browser.close();
  });

  it("a Cloudflare Access test that fails leaves a failure trace with the redacted assertion", async () => {
    const { id } = await w.createConnection({
      type: "cloudflare-access",
      name: "Cloudflare Access",
      teamDomain: cf.teamDomain,
      audience: cf.audTag,
    });
    cfId = id;
    const started = await w.api("POST", `/api/admin/sso/connections/${cfId}/tests`);
    const { authorizationUrl, test } = started.json<{ authorizationUrl: string; test: { id: string } }>();
    const token = await cf.sign({ aud: ["another-application"] });
    const back = await w.admin.get(new URL(authorizationUrl, w.origin).href, {
      headers: { "cf-access-jwt-assertion": token },
    });
    expect(where(back)).toBe(`/settings/sso?test=${test.id}`);
    const finished = (await w.api("GET", `/api/admin/sso/tests/${test.id}`)).json<{
      test: { status: string; traceId: string };
    }>().test;
    expect(finished.status).toBe("failed");
    const trace = await get(finished.traceId);
    expect(trace).toMatchObject({
      connectionId: cfId,
      kind: "cloudflare-access",
      purpose: "test",
      outcome: "failure",
      step: "assertion",
      code: "cloudflare_failed",
      message: "Cloudflare authentication failed",
      testId: test.id,
    });
    expect(trace.cause).toMatch(/aud/);
    const assertion = trace.messages.find((m) => m.name === "cloudflare_assertion");
    expect(assertion?.data).toMatchObject({
      source: "header",
      header: { alg: "RS256", kid: cf.currentKid },
      payload: { aud: ["another-application"], iss: cf.issuer, type: "app" },
      signature: "[signature redacted]",
    });
    expect(assertion?.data.payload.email).toMatch(/^\[redacted/);
    const text = JSON.stringify(trace);
    expect(text).not.toContain(ALICE.email.replace("@", "\\u0040"));
    expect(JSON.stringify(trace.messages)).not.toContain(ALICE.email);
    expect(text).not.toContain(token.split(".")[2]!);
    // This connection's traces are its own.
    expect((await list("", cfId)).traces.map((t) => t.id)).toEqual([trace.id]);
  });

  it("a Cloudflare Access sign-in leaves a trace when it succeeds and when it fails", async () => {
    const good = await cf.sign({ sub: "cf-sub-3b7e" });
    const test = await runCloudflareTest(w, cfId, good);
    expect(test.status).toBe("passed");
    const passed = await get(test.traceId!);
    expect(passed).toMatchObject({
      purpose: "test",
      outcome: "success",
      step: "done",
      user: { id: aliceId },
    });
    expect(passed.messages.map((m) => m.name)).toEqual(["cloudflare_assertion"]);
    expect((await w.api("PUT", `/api/admin/sso/connections/${cfId}/enabled`, { enabled: true })).status).toBe(
      200,
    );

    const ok = await attempt(w, good);
    expect(where(ok.res)).toBe("/");
    const signedIn = await newest(cfId);
    expect(signedIn).toMatchObject({
      kind: "cloudflare-access",
      purpose: "login",
      outcome: "success",
      step: "done",
      user: { id: aliceId, email: ALICE.email },
    });
    expect(signedIn.claimNames).toEqual(expect.arrayContaining(["aud", "email", "iss", "sub"]));
    expect(signedIn.messages[0]?.data.payload).toMatchObject({
      iss: cf.issuer,
      email: expect.stringMatching(/^\[redacted/),
    });

    const expired = await cf.sign({
      sub: "cf-sub-3b7e",
      exp: Math.floor(w.t.ctx.now().getTime() / 1000) - 3600,
    });
    const refused = await attempt(w, expired);
    expect(where(refused.res)).toBe("/login?error=cloudflare_failed");
    const failed = await newest(cfId);
    expect(failed).toMatchObject({
      purpose: "login",
      outcome: "failure",
      step: "assertion",
      code: "cloudflare_failed",
      message: "Cloudflare authentication failed",
      user: null,
    });
    expect(failed.cause).toMatch(/expired/);
    expect(failed.messages[0]?.data).toMatchObject({ source: "header", signature: "[signature redacted]" });
    const text = JSON.stringify(
      await w.t.ctx.db.selectFrom("sso_traces").selectAll().where("connection_id", "=", cfId).execute(),
    );
    expect(text).not.toContain("cf-sub-3b7e");
    expect(text).not.toContain(ALICE.email);
  });

  it("a test that cannot start leaves a failure trace", async () => {
    const { id } = await w.createConnection({
      type: "oidc",
      name: "Unreachable",
      clientId: "c",
      clientSecret: "unreachable-secret-value",
      discoveryUrl: "http://127.0.0.1:1/.well-known/openid-configuration",
    });
    const started = await w.api("POST", `/api/admin/sso/connections/${id}/tests`);
    expect(started.status).toBe(502);
    const testId = started.json<{ error: { testId: string } }>().error.testId;
    const test = (await w.api("GET", `/api/admin/sso/tests/${testId}`)).json<{ test: { traceId: string } }>()
      .test;
    const trace = await get(test.traceId);
    expect(trace).toMatchObject({
      connectionId: id,
      purpose: "test",
      outcome: "failure",
      code: "test_start_failed",
      message: "Failed to initiate SSO test.",
      testId,
    });
    expect(trace.step).toBe("discovery");
    expect(trace.cause).toMatch(/discovery URL could not be fetched/);
  });

  it("lists newest first, filters by outcome and pages with `next`", async () => {
    const all = await list("?limit=100");
    expect(all.next).toBeNull();
    expect(all.traces.length).toBeGreaterThanOrEqual(7);
    const times = all.traces.map((t) => new Date(t.finishedAt).getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(new Set(all.traces.map((t) => t.outcome))).toEqual(new Set(["success", "failure"]));
    // The §4 message for failures only, and the user's email joined at read time.
    for (const t of all.traces) expect(t.message === null).toBe(t.outcome === "success");

    const failures = await list("?outcome=failure&limit=100");
    expect(failures.traces.length).toBeGreaterThan(0);
    expect(failures.traces.every((t) => t.outcome === "failure")).toBe(true);
    expect(failures.traces.map((t) => t.id)).toEqual(
      all.traces.filter((t) => t.outcome === "failure").map((t) => t.id),
    );
    const successes = await list("?outcome=success&limit=100");
    expect(successes.traces.every((t) => t.outcome === "success")).toBe(true);
    expect(successes.traces.length + failures.traces.length).toBe(all.traces.length);

    const paged: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?limit=2${next ? `&before=${encodeURIComponent(next)}` : ""}`);
      expect(page.traces.length).toBeLessThanOrEqual(2);
      paged.push(...page.traces.map((t) => t.id));
      next = page.next;
      pages++;
    } while (next && pages < 50);
    expect(paged).toEqual(all.traces.map((t) => t.id));
    expect(pages).toBe(Math.ceil(all.traces.length / 2));
  });

  it("refuses a bad cursor or page size with 422 naming the field", async () => {
    const bad = await w.api("GET", `/api/admin/sso/connections/${connectionId}/traces?before=yesterday`);
    expect(bad.status).toBe(422);
    expect(bad.json<{ error: { field: string } }>().error.field).toBe("before");
    const big = await w.api("GET", `/api/admin/sso/connections/${connectionId}/traces?limit=101`);
    expect(big.status).toBe(422);
    expect(big.json<{ error: { field: string } }>().error.field).toBe("limit");
    const outcome = await w.api("GET", `/api/admin/sso/connections/${connectionId}/traces?outcome=maybe`);
    expect(outcome.status).toBe(422);
    expect(outcome.json<{ error: { field: string } }>().error.field).toBe("outcome");
  });

  it("never shows a trace to another agency's admin, nor to an analyst", async () => {
    const { traces } = await list("?limit=1");
    const traceId = traces[0]!.id;
    const port = new URL(w.origin).port;

    const other = await w.t.seedAgency({ slug: "globex", domain: "globex.localhost" });
    await w.t.seedUser(other.id, { email: "admin@globex.test", role: "admin" });
    const globex = new Browser();
    const gOrigin = `http://globex.localhost:${port}`;
    expect(
      (
        await globex.postJson(`${gOrigin}/api/auth/login`, {
          email: "admin@globex.test",
          password: TEST_PASSWORD,
        })
      ).status,
    ).toBe(200);
    const foreignTrace = await globex.get(`${gOrigin}/api/admin/sso/traces/${traceId}`);
    expect(foreignTrace.status).toBe(404);
    expect(foreignTrace.body).not.toContain(ALICE.email);
    expect(
      (await globex.get(`${gOrigin}/api/admin/sso/traces/00000000-0000-4000-8000-000000000000`)).status,
    ).toBe(404);
    const foreignList = await globex.get(`${gOrigin}/api/admin/sso/connections/${connectionId}/traces`);
    expect(foreignList.status).toBe(404);
    expect(foreignList.body).not.toContain(traceId);
    await globex.close();

    await w.t.seedUser(w.agencyId, {
      email: "analyst@acme.test",
      role: "analyst",
      subAccountIds: [w.subAccountId],
    });
    const analyst = new Browser();
    expect(
      (
        await analyst.postJson(`${w.origin}/api/auth/login`, {
          email: "analyst@acme.test",
          password: TEST_PASSWORD,
        })
      ).status,
    ).toBe(200);
    expect((await analyst.get(`${w.origin}/api/admin/sso/traces/${traceId}`)).status).toBe(403);
    expect((await analyst.get(`${w.origin}/api/admin/sso/connections/${connectionId}/traces`)).status).toBe(
      403,
    );
    await analyst.close();
    expect(
      (
        await new Browser().get(`${w.origin}/api/admin/sso/traces/${traceId}`, {
          headers: { accept: "application/json" },
        })
      ).status,
    ).toBe(401);
  });

  it("stores no email, subject, nonce, code, state, token or client secret", async () => {
    const rows = await w.t.ctx.db.selectFrom("sso_traces").selectAll().execute();
    expect(rows.length).toBeGreaterThanOrEqual(8);
    const text = JSON.stringify(rows);
    const nonces = [...w.secrets]
      .filter((s) => s.split(".").length === 3)
      .map((jwt) => {
        try {
          return decodeJwtParts(jwt).payload.nonce;
        } catch {
          return undefined;
        }
      })
      .filter((n): n is string => typeof n === "string");
    expect(nonces.length).toBeGreaterThan(0);
    for (const [label, value] of Object.entries({
      "alice's email": ALICE.email,
      "the stranger's email": STRANGER.email,
      "alice's subject": ALICE.sub,
      "the stranger's subject": STRANGER.sub,
      "alice's name": ALICE.name,
    })) {
      expect(text.includes(value), label).toBe(false);
    }
    for (const nonce of nonces) expect(text.includes(nonce), "a nonce").toBe(false);
    for (const secret of w.secrets)
      expect(text.includes(secret), `a secret (${secret.slice(0, 4)}…)`).toBe(false);
    expect(text).not.toMatch(/eyJ[\w-]{8,}\.[\w-]{8,}\./);
    expect(Object.keys(rows[0]!)).not.toContain("ip");
  });

  it("housekeeping deletes traces older than 7 days and keeps newer ones", async () => {
    const day = 24 * 3_600_000;
    const now = w.t.ctx.now().getTime();
    const input = {
      agencyId: w.agencyId,
      connectionId,
      purpose: "login" as const,
      testId: null,
      outcome: "failure" as const,
      step: "state",
      code: "sso_failed",
      cause: "state refused: expired",
      claimNames: [],
      userId: null,
      messages: [],
    };
    const old = await recordTrace(w.t.ctx.db, new Date(now - 7 * day - 60_000), {
      ...input,
      startedAt: new Date(now - 8 * day),
    });
    const recent = await recordTrace(w.t.ctx.db, new Date(now - 6 * day), {
      ...input,
      startedAt: new Date(now - 6 * day),
    });
    const before = (await list("?limit=100")).traces.length;

    const result = await sweepExpired(w.t.ctx, "none");
    expect(result.traces).toBe(1);
    const after = await list("?limit=100");
    expect(after.traces.length).toBe(before - 1);
    expect(after.traces.map((t) => t.id)).not.toContain(old);
    expect(after.traces.map((t) => t.id)).toContain(recent);
    expect((await w.api("GET", `/api/admin/sso/traces/${old}`)).status).toBe(404);
    expect((await sweepExpired(w.t.ctx, "none")).traces).toBe(0);
  });

  it("records a trace only for a connection of the agency, cuts the cause and sorts the claim names", async () => {
    const base = {
      purpose: "login" as const,
      testId: null,
      outcome: "failure" as const,
      step: "mapping",
      code: "remote_id_missing",
      userId: null,
      messages: [],
      startedAt: w.t.ctx.now(),
    };
    const other = await w.t.seedAgency({ slug: "initech", domain: "initech.localhost" });
    expect(
      await recordTrace(w.t.ctx.db, w.t.ctx.now(), {
        ...base,
        agencyId: other.id,
        connectionId,
        cause: null,
        claimNames: [],
      }),
    ).toBeNull();
    const id = await recordTrace(w.t.ctx.db, w.t.ctx.now(), {
      ...base,
      agencyId: w.agencyId,
      connectionId,
      cause: "x".repeat(5000),
      claimNames: ["sub", "email", "sub", "aud", ""],
      userId: "a-user-of-nobody",
    });
    const trace = await get(id!);
    expect(trace.cause!.length).toBe(1000);
    expect(trace.claimNames).toEqual(["aud", "email", "sub"]);
    expect(trace.user).toBeNull();
    expect(trace.kind).toBe("oidc");
  });

  it("a connection's traces go with it", async () => {
    const { id } = await w.createConnection({
      type: "oidc",
      name: "Short-lived",
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      discoveryUrl: idp.discoveryUrl,
    });
    forgetIdpSession(w.admin);
    const started = await w.api("POST", `/api/admin/sso/connections/${id}/tests`);
    const { authorizationUrl } = started.json<{ authorizationUrl: string }>();
    await signInAtIdp(w.admin, authorizationUrl, ALICE.sub);
    expect((await list("", id)).traces).toHaveLength(1);
    expect((await w.api("DELETE", `/api/admin/sso/connections/${id}`)).status).toBe(204);
    const left = await w.t.ctx.db
      .selectFrom("sso_traces")
      .select("id")
      .where("connection_id", "=", id)
      .execute();
    expect(left).toEqual([]);
  });
});
