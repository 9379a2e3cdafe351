// Integration token secrets never reach a log line (SPEC §10), even at debug level, on success,
// refusal (unknown, revoked, missing scope), rate limiting, or in the token-creation answer's path.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgency } from "../../src/agencies/agencies.js";
import { createToken, revokeToken } from "../../src/provisioning/tokens.js";
import type { TestDatabase } from "../support/db.js";
import { type LoggedApp, startLoggedApp } from "../support/logged-app.js";

describe("provisioning logs", () => {
  const lines: string[] = [];
  let database: TestDatabase;
  let app: LoggedApp["app"];

  beforeAll(async () => {
    ({ app, database } = await startLoggedApp(lines));
  });
  afterAll(async () => {
    await app?.close();
    await database?.close();
  });

  it("never writes a token's secret, whatever the outcome", async () => {
    const agency = await createAgency(database.db, { name: "Acme", slug: "acme", plan: "pro", domain: null });
    const ro = await createToken(database.db, {
      agencyId: agency.id,
      name: "Reader",
      scopes: ["users.readonly"],
      createdBy: null,
    });
    const revoked = await createToken(database.db, {
      agencyId: agency.id,
      name: "Old",
      scopes: ["users.write"],
      createdBy: null,
    });
    await revokeToken(database.db, agency.id, revoked.token.id, new Date());
    const call = (secret: string, method: "GET" | "POST", url: string) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
        ...(method === "POST" ? { payload: JSON.stringify({ email: "x@acme.test" }) } : {}),
      });
    expect((await call(ro.secret, "GET", "/api/v1/users?email=x%40acme.test")).statusCode).toBe(200);
    expect((await call(ro.secret, "POST", "/api/v1/users")).statusCode).toBe(403);
    expect((await call(revoked.secret, "GET", "/api/v1/users")).statusCode).toBe(401);
    const unknown = `pit_${"Z".repeat(43)}`;
    expect((await call(unknown, "GET", "/api/v1/users")).statusCode).toBe(401);
    // A token pasted into the query string by mistake is masked too.
    expect((await call(ro.secret, "GET", `/api/v1/users?token=${ro.secret}`)).statusCode).toBe(422);

    const all = lines.join("");
    expect(lines.some((l) => l.includes('"provisioning read"'))).toBe(true);
    expect(lines.some((l) => l.includes('"integration token refused"') && l.includes(revoked.token.id))).toBe(
      true,
    );
    for (const secret of [ro.secret, revoked.secret, unknown]) {
      expect(all).not.toContain(secret);
      expect(all).not.toContain(secret.slice(4));
    }
  });
});
