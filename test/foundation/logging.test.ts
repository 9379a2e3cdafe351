// No secret, token, code or password ever appears in a log line (SPEC §10), while what is not a
// secret (the SPEC §4 failure code of an SSO sign-in) stays readable.
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { createLogger, maskUrl } from "../../src/logger.js";
import { createUser } from "../../src/users/users.js";
import type { TestDatabase } from "../support/db.js";
import { type LoggedApp, startLoggedApp } from "../support/logged-app.js";
import { createSsoWorld, where } from "../support/sso.js";

describe("logs", () => {
  const lines: string[] = [];
  let database: TestDatabase;
  let app: LoggedApp["app"];

  beforeAll(async () => {
    ({ app, database } = await startLoggedApp(lines));
    const agency = await createAgency(database.db, {
      name: "Acme",
      slug: "acme",
      plan: "pro",
      domain: "acme.localhost",
    });
    await createUser(database.db, agency.id, {
      email: "a@acme.test",
      password: "the secret password",
      role: "admin",
    });
  });
  afterAll(async () => {
    await app.close();
    await database.close();
  });

  it("redacts codes by their path only: a query's or a body's code, not sso.code or err.code", () => {
    const out: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        out.push(String(chunk));
        done();
      },
    });
    createLogger("debug", sink).debug(
      {
        sso: { code: "sso_failed", step: "token" },
        err: { code: "ECONNREFUSED" },
        query: { code: "the-authorization-code-1" },
        callback: { query: { code: "the-authorization-code-2" }, body: { code: "123456" } },
        body: { code: "654321", backupCode: "abcd-efgh" },
      },
      "probe",
    );
    const line = JSON.parse(out.join("")) as { sso: { code: string }; err: { code: string } };
    expect(line.sso.code).toBe("sso_failed");
    expect(line.err.code).toBe("ECONNREFUSED");
    for (const secret of [
      "the-authorization-code-1",
      "the-authorization-code-2",
      "123456",
      "654321",
      "abcd-efgh",
    ]) {
      expect(out.join("")).not.toContain(secret);
    }
  });

  it("masks codes and states in URLs", () => {
    expect(maskUrl("/login/sso?code=abc123&state=s1.x.y&iss=http%3A%2F%2Fidp")).toBe(
      "/login/sso?code=[REDACTED]&state=[REDACTED]&iss=http%3A%2F%2Fidp",
    );
  });

  it("masks SAML messages, the RelayState and the ACS's continue handle in URLs", () => {
    expect(maskUrl("/login/saml/c1/continue?h=one-time-handle")).toBe("/login/saml/c1/continue?h=[REDACTED]");
    expect(maskUrl("/sso?SAMLRequest=fZJN&RelayState=s1.a.b&SigAlg=x&Signature=sig")).toBe(
      "/sso?SAMLRequest=[REDACTED]&RelayState=[REDACTED]&SigAlg=x&Signature=[REDACTED]",
    );
  });

  it("never writes cookies, authorization headers, passwords or OIDC codes", async () => {
    const login = await app.inject({
      method: "POST",
      url: "/api/auth/login",
      headers: { host: "acme.localhost", "content-type": "application/json" },
      payload: { email: "a@acme.test", password: "the secret password" },
    });
    const cookie = login.cookies[0]!.value;
    await app.inject({
      url: "/api/auth/me",
      headers: { host: "acme.localhost", cookie: `copilot_session=${cookie}` },
    });
    await app.inject({
      url: "/api/v1/users",
      headers: { host: "acme.localhost", authorization: "Bearer pit_supersecrettoken" },
    });
    await app.inject({
      url: "/login/sso?code=the-authorization-code&state=the-state-token",
      headers: { host: "acme.localhost" },
    });
    const all = lines.join("");
    expect(lines.length).toBeGreaterThan(3);
    expect(all).toContain("/login/sso?code=[REDACTED]");
    for (const secret of [
      cookie,
      "the secret password",
      "pit_supersecrettoken",
      "the-authorization-code",
      "the-state-token",
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});

describe("the debug log of a failed SSO sign-in", () => {
  it("shows the SPEC §4 code and the step, never the authorization code", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const w = await createSsoWorld("pglite", "acme", {}, { log: createLogger("debug", sink) });
    const idp = await w.startIdp([
      { sub: "user-alice", claims: { email: "alice@acme.test", email_verified: true } },
    ]);
    try {
      w.watch(idp);
      await w.t.seedUser(w.agencyId, { email: "alice@acme.test", role: "admin" });
      const id = await w.connectIdp(idp, { enableAs: "user-alice" });
      // The IdP redeems a genuine code, then answers without an ID token: the sign-in fails after
      // the code went through the whole exchange.
      idp.setTamper((body) => {
        delete body.id_token;
        return body;
      });
      const { browser, callback } = await w.toCallback(id, "user-alice");
      const code = new URL(callback).searchParams.get("code")!;
      expect(code.length).toBeGreaterThanOrEqual(16);
      const res = await browser.get(callback);
      expect(where(res)).toBe("/login?error=sso_failed");

      const failures = lines
        .map((line) => JSON.parse(line) as { msg?: string; sso?: Record<string, unknown> })
        .filter((entry) => entry.msg === "SSO sign-in failed");
      expect(failures).toHaveLength(1);
      expect(failures[0]!.sso).toMatchObject({ code: "sso_failed", connectionId: id });
      expect(failures[0]!.sso!.step).toMatch(/^(token|id_token)$/);
      const all = lines.join("");
      expect(all).toContain("/login/sso?code=[REDACTED]");
      expect(w.secrets.size).toBeGreaterThan(2);
      for (const secret of [code, ...w.secrets]) {
        expect(all.includes(secret), `a log line holds a secret (${secret.slice(0, 4)}…)`).toBe(false);
      }
    } finally {
      await idp.close();
      await w.close();
    }
  });
});
