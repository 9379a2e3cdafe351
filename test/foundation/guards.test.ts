// The session guards hand the handler the signed-in user and agency (issue 15: no `request.auth!`),
// and a handler that takes them from the guard fails closed even on a route that forgot the
// preHandler: no session is 401, an analyst is 403, another agency's session is 401.
import fastifyCookie from "@fastify/cookie";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeGuards } from "../../src/http/request-context.js";
import { agencyWithAdmin } from "../provisioning/helpers.js";
import { Client, createTestApp, type TestApp } from "../support/app.js";
import { storages } from "../support/db.js";

describe.each(storages())("guards return the signed-in user (%s)", (storage) => {
  let t: TestApp;
  let probe: FastifyInstance;
  let a: Awaited<ReturnType<typeof agencyWithAdmin>>;
  let other: Awaited<ReturnType<typeof agencyWithAdmin>>;

  beforeAll(async () => {
    t = await createTestApp(storage);
    a = await agencyWithAdmin(t, "guarded");
    other = await agencyWithAdmin(t, "elsewhere");
    // A route with no preHandler: only the guard the handler calls stands between it and anyone.
    const guards = makeGuards(t.ctx);
    probe = Fastify();
    await probe.register(fastifyCookie);
    probe.decorateRequest("agency", null);
    probe.decorateRequest("auth", null);
    probe.addHook("onRequest", async (request) => {
      request.agency = await guards.resolveAgency(request);
    });
    probe.get("/probe", async (request) => {
      const { agency, user, session } = await guards.requireAdmin(request);
      return { agencyId: agency.id, userId: user.id, sessionAgencyId: session.agencyId };
    });
    await probe.ready();
  });
  afterAll(async () => {
    await probe?.close();
    await t?.close();
  });

  const call = (host: string, client?: Client) =>
    probe.inject({
      method: "GET",
      url: "/probe",
      headers: {
        host,
        ...(client ? { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join("; ") } : {}),
      },
    });

  it("hands an admin's handler the agency, the user and the session", async () => {
    const res = await call(a.host, a.admin);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      agencyId: a.agency.id,
      userId: a.adminUser.id,
      sessionAgencyId: a.agency.id,
    });
  });

  it("refuses a request without a session (401)", async () => {
    expect((await call(a.host)).statusCode).toBe(401);
  });

  it("refuses an analyst (403)", async () => {
    const analyst = await t.seedUser(a.agency.id, { role: "analyst", subAccountIds: [a.subAccountId] });
    const c = new Client(t.app, a.host);
    expect((await c.login(analyst.email)).statusCode).toBe(200);
    expect((await call(a.host, c)).statusCode).toBe(403);
  });

  it("refuses another agency's admin session on this agency's host (401)", async () => {
    expect((await call(a.host, other.admin)).statusCode).toBe(401);
  });

  it("answers 404 on a host with no agency", async () => {
    expect((await call("nobody.localhost", a.admin)).statusCode).toBe(404);
  });
});
