// JSON bodies are validated as sent, without type coercion: a number, boolean or string of the
// wrong type is a 422 naming the field (SPEC §8, §11), never silently converted (123 → "123",
// "false" → false, "id" → ["id"]). Querystrings and path parameters are strings on the wire and
// keep being coerced to their schema's types. Over HTTP on loopback, against the real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, type BrowserResponse } from "../support/browser.js";
import { storages } from "../support/db.js";
import { createSsoWorld, type SsoWorld } from "../support/sso.js";

type ApiError = { error: { code: string; message: string; field?: string } };

describe.each(storages())("request bodies are not coerced (%s)", (storage) => {
  let w: SsoWorld;
  let script: Browser;
  let secret: string;
  let userId: string;

  /** A provisioning script: bearer token, no cookies, no Origin. */
  const call = (method: string, path: string, body?: unknown) =>
    script.postJson(`${w.t.baseUrl}${path}`, body, {
      method,
      origin: null,
      headers: { authorization: `Bearer ${secret}` },
    });

  function expectInvalid(res: BrowserResponse, field: string): void {
    expect(res.status, res.body).toBe(422);
    const { error } = res.json<ApiError>();
    expect(error.code).toBe("invalid_input");
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field} `), error.message).toBe(true);
  }

  beforeAll(async () => {
    w = await createSsoWorld(storage);
    const created = await w.api("POST", "/api/admin/tokens", { name: "HR sync", scopes: ["users.write"] });
    expect(created.status, created.body).toBe(201);
    secret = created.json<{ secret: string }>().secret;
    script = new Browser();
    const user = await call("POST", "/api/v1/users", { email: "jane@acme.test", name: "Jane" });
    expect(user.status, user.body).toBe(201);
    userId = user.json<{ user: { id: string } }>().user.id;
  });
  afterAll(async () => {
    await script?.close();
    await w?.close();
  });

  it("refuses wrong JSON types in a provisioning create, naming the field, and creates nothing", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ email: "x@acme.test", name: 123 }, "name"],
      [{ email: "x@acme.test", externalUserId: 4711 }, "externalUserId"],
      [{ email: "x@acme.test", platformLanguage: true }, "platformLanguage"],
      [{ email: "x@acme.test", subAccountIds: w.subAccountId }, "subAccountIds"],
      [{ email: "x@acme.test", subAccountIds: [42] }, "subAccountIds.0"],
      [{ email: "x@acme.test", password: 12345678901234 }, "password"],
    ];
    for (const [body, field] of cases) expectInvalid(await call("POST", "/api/v1/users", body), field);
    const rows = await w.t.ctx.db
      .selectFrom("users")
      .select("id")
      .where("email", "=", "x@acme.test")
      .execute();
    expect(rows).toHaveLength(0);
  });

  it('refuses "false" and 0 for active in a provisioning update: the user stays active', async () => {
    expectInvalid(await call("PUT", `/api/v1/users/${userId}`, { active: "false" }), "active");
    expectInvalid(await call("PUT", `/api/v1/users/${userId}`, { active: 0 }), "active");
    expectInvalid(await call("PUT", `/api/v1/users/${userId}`, { name: 7 }), "name");
    const user = await call("GET", `/api/v1/users/${userId}`);
    expect(user.json<{ user: { active: boolean; name: string } }>().user).toMatchObject({
      active: true,
      name: "Jane",
    });
    // The right types still work.
    const ok = await call("PUT", `/api/v1/users/${userId}`, { name: "Jane Doe", active: true });
    expect(ok.status, ok.body).toBe(200);
  });

  it("still coerces the querystring and path parameters, which are strings on the wire", async () => {
    const page = await call("GET", "/api/v1/users?page=1&pageSize=1");
    expect(page.status, page.body).toBe(200);
    expect(page.json()).toMatchObject({ page: 1, pageSize: 1 });
    expect(page.json<{ users: unknown[] }>().users).toHaveLength(1);
    expectInvalid(await call("GET", "/api/v1/users?pageSize=many"), "pageSize");
    expect((await call("GET", `/api/v1/users/${userId}`)).status).toBe(200);
  });

  it('refuses "true" for require2fa on the admin security page, leaving the setting off', async () => {
    expectInvalid(await w.api("PUT", "/api/admin/security", { require2fa: "true" }), "require2fa");
    expectInvalid(await w.api("PUT", "/api/admin/security", { require2fa: 1 }), "require2fa");
    const settings = await w.api("GET", "/api/admin/security");
    expect(settings.json()).toMatchObject({ require2fa: false });
  });

  it("refuses wrong types in the admin users API, and an admin's own page query still works", async () => {
    expectInvalid(await w.api("PUT", `/api/admin/users/${userId}`, { active: "false" }), "active");
    expectInvalid(await w.api("PUT", `/api/admin/users/${userId}`, { role: ["admin"] }), "role");
    expect((await w.api("GET", `/api/admin/users/${userId}`)).json()).toMatchObject({
      user: { active: true, role: "analyst" },
    });
    const list = await w.api("GET", "/api/admin/users?page=1");
    expect(list.status, list.body).toBe(200);
  });
});
