// No TOTP secret, code, backup code or pending-2FA token ever appears in a log line.
import type { FastifyInstance, InjectOptions } from "fastify";
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { createUser } from "../../src/users/users.js";
import type { TestDatabase } from "../support/db.js";
import { startLoggedApp } from "../support/logged-app.js";

describe("2FA and the logs", () => {
  const lines: string[] = [];
  let database: TestDatabase;
  let app: FastifyInstance;

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
    await app?.close();
    await database?.close();
  });

  it("never writes secrets, codes, backup codes or pending tokens", async () => {
    let cookies: Record<string, string> = {};
    const send = async (opts: InjectOptions) => {
      const res = await app.inject({
        ...opts,
        headers: {
          host: "acme.localhost",
          origin: "http://acme.localhost",
          cookie: Object.entries(cookies)
            .map(([k, v]) => `${k}=${v}`)
            .join("; "),
        },
      });
      for (const c of res.cookies as Array<{ name: string; value: string }>) {
        if (c.value) cookies[c.name] = c.value;
        else delete cookies[c.name];
      }
      return res;
    };
    const login = () =>
      send({
        method: "POST",
        url: "/api/auth/login",
        payload: { email: "a@acme.test", password: "the secret password" },
      });

    await login();
    const setup = await send({ method: "POST", url: "/api/account/2fa/setup" });
    expect(setup.statusCode, setup.body).toBe(200);
    const { secret } = setup.json();
    const code = await generate({ secret });
    const confirm = await send({ method: "POST", url: "/api/account/2fa/confirm", payload: { code } });
    const backupCodes: string[] = confirm.json().backupCodes;
    expect(backupCodes).toHaveLength(10);

    cookies = {};
    expect((await login()).json()).toEqual({ mfaRequired: true });
    const pending = cookies.copilot_mfa!;
    await send({ method: "POST", url: "/api/auth/2fa", payload: { code } }); // replayed
    const done = await send({
      method: "POST",
      url: "/api/auth/2fa",
      payload: { backupCode: backupCodes[0] },
    });
    expect(done.statusCode).toBe(200);

    const log = lines.join("");
    expect(log.length).toBeGreaterThan(0);
    for (const value of [secret, pending, ...backupCodes, ...backupCodes.map((c) => c.replace("-", ""))]) {
      expect(log).not.toContain(value);
    }
    // A 6-digit code could appear by chance inside a timestamp: look for it as a value.
    expect(log).not.toMatch(new RegExp(`["=:]\\s*"?${code}(?!\\d)`));
  });
});
