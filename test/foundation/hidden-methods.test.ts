// While other login methods are hidden (SPEC §2), the password form confirms nothing (issue 14
// item 9): the method is decided before the password is looked at, so a right password, a wrong
// one and an unknown email get the same answer. Break-glass (`/login?method=password`, an agency
// admin) still works, and its refusals do not tell who is an admin.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, createTestApp, TEST_PASSWORD, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

const HOST = "acme.localhost";

describe.each(storages())("password sign-in while other methods are hidden (%s)", (storage) => {
  let t: TestApp;
  let agencyId: string;

  beforeAll(async () => {
    t = await createTestApp(storage);
    agencyId = (await t.seedAgency({ slug: "acme", domain: HOST, plan: "pro" })).id;
    const sub = await t.seedSubAccount(agencyId, "Main");
    await t.seedUser(agencyId, { email: "ann@acme.test", role: "analyst", subAccountIds: [sub] });
    await t.seedUser(agencyId, { email: "admin@acme.test", role: "admin" });
    await t.ctx.db
      .updateTable("agencies")
      .set({ sso_enabled: true, sso_hide_other_methods: true })
      .where("id", "=", agencyId)
      .execute();
  });
  afterAll(() => t?.close());

  let ipCounter = 0;
  async function attempt(email: string, password: string, breakGlass?: boolean) {
    const res = await new Client(t.app, HOST).request({
      method: "POST",
      url: "/api/auth/login",
      payload: { email, password, ...(breakGlass === undefined ? {} : { breakGlass }) },
      remoteAddress: `10.9.0.${++ipCounter}`,
    });
    const sessionSet = (res.cookies as Array<{ name: string; value: string }>).some(
      (c) => c.name.includes("session") && c.value !== "",
    );
    return { status: res.statusCode, body: res.json(), sessionSet };
  }

  it("answers the same 403 without checking the password: right, wrong, unknown, admin or not", async () => {
    const answers = [
      await attempt("ann@acme.test", TEST_PASSWORD),
      await attempt("ann@acme.test", "not the password"),
      await attempt("ghost@acme.test", TEST_PASSWORD),
      await attempt("admin@acme.test", TEST_PASSWORD),
      await attempt("admin@acme.test", "not the password"),
      await attempt("ann@acme.test", TEST_PASSWORD, false),
    ];
    for (const a of answers) {
      expect(a).toEqual({
        status: 403,
        body: {
          error: {
            code: "method_disabled",
            message: "Your organization signs in with SSO. Please use the SSO button.",
          },
        },
        sessionSet: false,
      });
    }
  });

  it("answers a break-glass attempt of anyone but an admin with the right password like a wrong password", async () => {
    const answers = [
      await attempt("ann@acme.test", TEST_PASSWORD, true),
      await attempt("ann@acme.test", "not the password", true),
      await attempt("ghost@acme.test", TEST_PASSWORD, true),
      await attempt("admin@acme.test", "not the password", true),
    ];
    for (const a of answers) {
      expect(a).toEqual({
        status: 401,
        body: { error: { code: "invalid_credentials", message: "Invalid email or password" } },
        sessionSet: false,
      });
    }
  });

  it("lets an agency admin in with the break-glass sign-in, audited", async () => {
    const glass = await attempt("admin@acme.test", TEST_PASSWORD, true);
    expect(glass.status).toBe(200);
    expect(glass.sessionSet).toBe(true);
    const entries = await t.ctx.db
      .selectFrom("audit_log")
      .select(["actor_label", "outcome"])
      .where("agency_id", "=", agencyId)
      .where("action", "=", "auth.break_glass")
      .execute();
    expect(entries).toEqual([{ actor_label: "admin@acme.test", outcome: "success" }]);
  });

  it("audits the refused attempts with their real cause (for the admins, not the answer)", async () => {
    const causes = (
      await t.ctx.db
        .selectFrom("audit_log")
        .select("details")
        .where("agency_id", "=", agencyId)
        .where("action", "=", "auth.sign_in")
        .where("outcome", "=", "failure")
        .execute()
    ).map((r) => (r.details as { cause: string }).cause);
    expect(causes).toContain("password sign-in is hidden: the agency signs in with SSO");
    expect(causes).toContain("break-glass sign-in is for agency admins only");
    expect(causes).toContain("wrong password");
    expect(causes).toContain("no such user");
  });
});
