// TRUST_PROXY (issue 14 item 6): a hop count or a list of trusted proxy addresses/CIDRs, so the
// client address the per-IP limits and the audit log use is the one our proxy appended, never the
// left-most X-Forwarded-For entry the client wrote itself. `true` is still accepted, with a warning.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";
import { startLoggedApp } from "../support/logged-app.js";

const SPOOFED = "6.6.6.6";

describe.each(storages())("TRUST_PROXY (%s)", (storage) => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const t of apps) await t.close();
  });

  async function appWith(trustProxy: string) {
    const t = await createTestApp(storage, { TRUST_PROXY: trustProxy });
    apps.push(t);
    await t.seedAgency({ slug: "acme", domain: "acme.localhost" });
    return t;
  }

  /** A failed sign-in from `remoteAddress` with the given X-Forwarded-For; the address it was seen from. */
  async function seenFrom(t: TestApp, remoteAddress: string, forwardedFor: string, email: string) {
    const res = await new Client(t.app, "acme.localhost").request({
      method: "POST",
      url: "/api/auth/login",
      payload: { email, password: "wrong password" },
      headers: { "x-forwarded-for": forwardedFor },
      remoteAddress,
    });
    expect(res.statusCode).toBe(401);
    const entry = await t.ctx.db
      .selectFrom("audit_log")
      .select("ip")
      .where("actor_label", "=", email)
      .executeTakeFirstOrThrow();
    const keys = (await t.ctx.db.selectFrom("throttle").select("key").execute()).map((r) => r.key);
    expect(keys).toContain(`signin:ip:${entry.ip}`);
    expect(keys).not.toContain(`signin:ip:${SPOOFED}`);
    return entry.ip;
  }

  describe("a hop count", () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await appWith("1");
    });

    it("uses the address the proxy appended, not the client-written left-most one", async () => {
      expect(await seenFrom(t, "10.0.0.5", `${SPOOFED}, 203.0.113.50`, "hop1@acme.test")).toBe(
        "203.0.113.50",
      );
      expect(await seenFrom(t, "10.0.0.5", `${SPOOFED}, 7.7.7.7, 203.0.113.51`, "hop2@acme.test")).toBe(
        "203.0.113.51",
      );
    });
  });

  describe("a list of proxy addresses and CIDRs", () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await appWith("10.0.0.0/8, 127.0.0.1");
    });

    it("believes X-Forwarded-For only from the listed proxies", async () => {
      // Through a listed proxy: the address it appended.
      expect(await seenFrom(t, "10.0.0.5", `${SPOOFED}, 203.0.113.60`, "list1@acme.test")).toBe(
        "203.0.113.60",
      );
      // Through two listed proxies: the address before both.
      expect(await seenFrom(t, "127.0.0.1", "203.0.113.61, 10.1.2.3", "list2@acme.test")).toBe(
        "203.0.113.61",
      );
      // From an address that is not a listed proxy: the header is ignored.
      expect(await seenFrom(t, "198.51.100.9", SPOOFED, "list3@acme.test")).toBe("198.51.100.9");
    });

    it("believes X-Forwarded-Proto only from a listed proxy", async () => {
      // The session cookie of a sign-in is Secure only when the request was HTTPS.
      await t.seedUser((await t.ctx.db.selectFrom("agencies").select("id").executeTakeFirstOrThrow()).id, {
        email: "proto@acme.test",
      });
      const cookieSecure = async (remoteAddress: string) => {
        const res = await new Client(t.app, "acme.localhost").request({
          noOrigin: true,
          method: "POST",
          url: "/api/auth/login",
          payload: { email: "proto@acme.test", password: "correct horse battery staple" },
          headers: { "x-forwarded-proto": "https" },
          remoteAddress,
        });
        expect(res.statusCode, res.body).toBe(200);
        return (res.cookies as Array<{ name: string; secure?: boolean }>).find((c) =>
          c.name.endsWith("session"),
        )?.secure;
      };
      expect(await cookieSecure("10.0.0.5")).toBe(true);
      expect(await cookieSecure("198.51.100.9")).toBeFalsy();
    });
  });

  describe("true (every hop)", () => {
    it("is still accepted, and warned about at start", async () => {
      const lines: string[] = [];
      const logged = await startLoggedApp(lines, { TRUST_PROXY: "true" });
      try {
        const warning = lines.map((l) => JSON.parse(l)).find((l) => /TRUST_PROXY=true/.test(l.msg));
        expect(warning?.level).toBe(40);
      } finally {
        await logged.app.close();
        await logged.database.close();
      }
    });
  });
});

describe("TRUST_PROXY values", () => {
  const load = (TRUST_PROXY?: string) =>
    loadConfig({
      NODE_ENV: "test",
      JWT_SECRET: "x".repeat(40),
      ENCRYPTION_KEY: Buffer.alloc(32).toString("base64url"),
      SSO_STATE_SECRET: "y".repeat(40),
      ...(TRUST_PROXY === undefined ? {} : { TRUST_PROXY }),
    }).trustProxy;

  it("reads none, a hop count, a list, and true", () => {
    expect(load()).toBe(false);
    expect(load("")).toBe(false);
    expect(load("false")).toBe(false);
    expect(load("0")).toBe(false);
    expect(load("2")).toBe(2);
    expect(load("10.0.0.0/8,127.0.0.1, ::1, fd00::/8, loopback")).toEqual([
      "10.0.0.0/8",
      "127.0.0.1",
      "::1",
      "fd00::/8",
      "loopback",
    ]);
    expect(load("true")).toBe(true);
  });

  it("refuses what it does not understand, naming the variable", () => {
    for (const bad of ["yes", "10.0.0.0/33", "10.0.0/8", "example.com", "-1", "::1/129"]) {
      expect(() => load(bad), bad).toThrow(ConfigError);
      expect(() => load(bad)).toThrow(/TRUST_PROXY/);
    }
  });
});
