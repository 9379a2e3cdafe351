// Helpers of the provisioning suites: an agency admin who creates tokens through the admin API,
// and a script's view of the API (a bearer token, no cookies, no Origin).
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, expect } from "vitest";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import type { Storage } from "../support/db.js";

export interface CreatedToken {
  id: string;
  name: string;
  scopes: string[];
  prefix: string;
  secret: string;
}

let ipCounter = 0;

/** An agency with a signed-in admin whose session creates and revokes tokens. */
export async function agencyWithAdmin(t: TestApp, slug: string) {
  const agency = await t.seedAgency({ slug, domain: `${slug}.localhost` });
  const adminUser = await t.seedUser(agency.id, { email: `admin@${slug}.test`, role: "admin" });
  const admin = new Client(t.app, `${slug}.localhost`);
  const login = await admin.login(adminUser.email);
  expect(login.statusCode, login.body).toBe(200);
  const subAccountId = await t.seedSubAccount(agency.id, `${slug} main`);
  async function createToken(name: string, scopes: string[]): Promise<CreatedToken> {
    const res = await admin.post("/api/admin/tokens", { name, scopes });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json() as { token: Omit<CreatedToken, "secret">; secret: string };
    return { ...body.token, secret: body.secret };
  }
  return { agency, adminUser, admin, subAccountId, createToken, host: `${slug}.localhost` };
}

export type AgencyWithAdmin = Awaited<ReturnType<typeof agencyWithAdmin>>;

/**
 * For a describe block: a test app with agency "acme", its signed-in admin (`a`) and an "HR sync"
 * provisioning script with `users.write` — set up in beforeAll, closed in afterAll.
 */
export function useAgencyWithScript(storage: Storage): { t: TestApp; a: AgencyWithAdmin; script: Script } {
  const w = {} as { t: TestApp; a: AgencyWithAdmin; script: Script };
  beforeAll(async () => {
    w.t = await createTestApp(storage);
    w.a = await agencyWithAdmin(w.t, "acme");
    w.script = new Script(w.t, (await w.a.createToken("HR sync", ["users.write"])).secret);
  });
  afterAll(() => w.t?.close());
  return w;
}

/** A provisioning script: every call carries `Authorization: Bearer <secret>`, from its own IP. */
export class Script {
  readonly ip: string;
  constructor(
    readonly t: TestApp,
    readonly secret: string | null,
    readonly host = "localhost:3000",
    ip?: string,
  ) {
    ipCounter++;
    this.ip = ip ?? `10.77.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
  }

  call(method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
    return this.t.app.inject({
      method: method as "GET",
      url,
      remoteAddress: this.ip,
      headers: {
        host: this.host,
        ...(this.secret !== null ? { authorization: `Bearer ${this.secret}` } : {}),
        ...(payload !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    });
  }
  get(url: string) {
    return this.call("GET", url);
  }
  post(url: string, body: unknown) {
    return this.call("POST", url, body);
  }
  put(url: string, body: unknown) {
    return this.call("PUT", url, body);
  }
  delete(url: string) {
    return this.call("DELETE", url);
  }
}

/** `{ error: { code, message, field? } }` of a response, asserting the status. */
export function errorOf(res: LightMyRequestResponse, status: number) {
  expect(res.statusCode, res.body).toBe(status);
  return (res.json() as { error: { code: string; message: string; field?: string; existingUserId?: string } })
    .error;
}

/** The audit entries of an agency for an action, newest first. */
export async function auditRows(t: TestApp, agencyId: string, action: string) {
  return t.ctx.db
    .selectFrom("audit_log")
    .selectAll()
    .where("agency_id", "=", agencyId)
    .where("action", "=", action)
    .orderBy("id", "desc")
    .execute();
}
