// No secret, token, code or password ever appears in a log line (SPEC §10).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { maskUrl } from "../../src/logger.js";
import { createUser } from "../../src/users/users.js";
import type { TestDatabase } from "../support/db.js";
import { type LoggedApp, startLoggedApp } from "../support/logged-app.js";

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

  it("masks codes and states in URLs", () => {
    expect(maskUrl("/login/sso?code=abc123&state=s1.x.y&iss=http%3A%2F%2Fidp")).toBe(
      "/login/sso?code=[REDACTED]&state=[REDACTED]&iss=http%3A%2F%2Fidp",
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
